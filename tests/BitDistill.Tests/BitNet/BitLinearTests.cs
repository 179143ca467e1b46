using BitDistill.Autograd;
using BitDistill.Kernels;
using BitDistill.Models.BitNet;
using BitDistill.Tensors;

namespace BitDistill.Tests.BitNet;

/// <summary>BitLinear: forward on the ternary×INT8 kernels equals the float fake-quantised product; the STE gradient equals
/// the identity path's; warm-up, scale modes, refresh and diagnostics.</summary>
public class BitLinearTests
{
    private static (float[] xHat, float[] wHat) FakeQuant(float[] x, int m, int k, BitLinear layer)
    {
        var xq = new sbyte[m * k]; var s = new float[m]; var sums = new int[m];
        ActivationQuantizer.QuantizePerTokenReference(x, m, k, xq, s, sums);
        var xHat = new float[m * k];
        for (int r = 0; r < m; r++) for (int c = 0; c < k; c++) xHat[r * k + c] = xq[r * k + c] / s[r];
        return (xHat, layer.DequantizedWeight.ToArray());
    }

    public static IEnumerable<object[]> Modes() => Enum.GetValues<WeightScaleMode>().Select(m => new object[] { m });

    [Theory, MemberData(nameof(Modes))]
    public void ForwardEqualsFakeQuantisedFloatProduct(WeightScaleMode mode)
    {
        int m = 7, k = 131, n = 37;
        var layer = new BitLinear(k, n, bias: true, new Generator(3), 0.05f, mode, groupSize: 32);
        layer.Bias!.Value.CopyFrom(TestUtil.RandN([n], 4));
        var x = TestUtil.RandN([m, k], 5);
        var y = layer.Forward(new Variable(x)).Value.ToArray<float>();
        var (xHat, wHat) = FakeQuant(x.ToArray<float>(), m, k, layer);
        var b = layer.Bias.Value.ToArray<float>();
        double maxErr = 0, maxRef = 0;
        for (int r = 0; r < m; r++)
            for (int o = 0; o < n; o++)
            {
                double acc = b[o];
                for (int c = 0; c < k; c++) acc += (double)xHat[r * k + c] * wHat[o * k + c];
                maxErr = Math.Max(maxErr, Math.Abs(acc - y[r * n + o])); maxRef = Math.Max(maxRef, Math.Abs(acc));
            }
        Assert.True(maxErr <= 1e-5 * maxRef, $"max error {maxErr:E2} vs max |y| {maxRef:G3}");
        // the weights really are ternary multiples of the scale(s)
        var scales = layer.Scales();
        Assert.Equal(mode == WeightScaleMode.PerTensor ? 1 : mode == WeightScaleMode.PerChannel ? n : n * 5, scales.Length);
    }

    [Theory]
    [InlineData(WeightScaleMode.PerTensor)]
    [InlineData(WeightScaleMode.PerChannel)]
    public void ATrainingBatchGivesBitwiseTheSameOutputThroughSgemmAsThroughTheInt8Kernels(WeightScaleMode mode)
    {
        int m = 150, k = 256, n = 77;
        var layer = new BitLinear(k, n, bias: false, new Generator(6), 0.05f, mode);
        var x = TestUtil.RandN([m, k], 7);
        float[] Run(int minRows)
        {
            using var _ = KernelContext.Use(KernelContext.Current with { TernarySgemmMinRows = minRows });
            return layer.Forward(new Variable(x)).Value.ToArray<float>();
        }
        Assert.Equal(Run(int.MaxValue), Run(64));
    }

    [Fact]
    public void SteGradientEqualsIdentityPathGradient()
    {
        int m = 5, k = 33, n = 17;
        var layer = new BitLinear(k, n, bias: false, new Generator(7));
        var xv = new Variable(TestUtil.RandN([m, k], 8), requiresGrad: true);
        var g = TestUtil.RandN([m, n], 9);
        layer.Forward(xv).Backward(g);
        var (xHat, wHat) = FakeQuant(xv.Value.ToArray<float>(), m, k, layer);
        // identity path: x + (x̂ − x).detach(), w + (ŵ − w).detach()
        var x2 = new Variable(xv.Value.Clone(), requiresGrad: true);
        var w2 = new Variable(layer.Weight.Value.Clone(), requiresGrad: true);
        var dx = Tensor.FromArray(xHat, [m, k]) - x2.Value;
        var dw = Tensor.FromArray(wHat, [n, k]) - w2.Value;
        F.Linear(x2 + new Variable(dx), w2 + new Variable(dw)).Backward(g);
        TestUtil.AssertClose(xv.Grad!, x2.Grad!, 1e-5, "dx");
        TestUtil.AssertClose(layer.Weight.Grad!, w2.Grad!, 1e-5, "dW");
    }

    [Fact]
    public void WarmupZeroIsTheFloatLayerAndRefreshFollowsTheOptimizer()
    {
        var layer = new BitLinear(19, 11, bias: false, new Generator(11));
        var x = TestUtil.RandN([3, 19], 12);
        layer.QuantizationStrength = 0f;
        var yFloat = x.MatMul(layer.Weight.Value.T);
        TestUtil.AssertClose(layer.Forward(new Variable(x)).Value, yFloat, 1e-6, "λ = 0");
        layer.QuantizationStrength = 1f;
        var before = layer.DequantizedWeight.ToArray();
        var opt = new AdamW(layer.Parameters(), lr: 0.05f, weightDecay: 0);
        layer.Forward(new Variable(x)).Square().Sum().Backward();
        opt.Step();
        Assert.NotEqual(before, layer.DequantizedWeight.ToArray()); // packed weights refreshed after the step
    }

    [Fact]
    public void DiagnosticsCountSharesAndFlips()
    {
        var layer = new BitLinear(64, 32, bias: false, new Generator(13));
        var (mi, z, p) = layer.TernaryShares();
        Assert.Equal(1.0, mi + z + p, 9);
        Assert.InRange(z, 0.2, 0.5); // absmean of N(0, σ²): P(|w| < 0.5·mean|w|) ≈ 0.31
        Assert.Equal(0, layer.FlipRateSinceSnapshot());
        var w = layer.Weight.Value.AsSpan<float>();
        for (int i = 0; i < 64; i++) w[i] = -w[i] * 3;
        layer.Weight.MarkChanged();
        Assert.InRange(layer.FlipRateSinceSnapshot(), 1.0 / 2048, 0.1);
        Assert.Equal(0, layer.FlipRateSinceSnapshot());
    }

    [Fact]
    public void NonFiniteWeightsAreReported()
    {
        var layer = new BitLinear(8, 4, bias: false, new Generator(1));
        layer.Weight.Value.AsSpan<float>()[5] = float.NaN;
        layer.Weight.MarkChanged();
        var ex = Assert.Throws<InvalidOperationException>(() => layer.Forward(new Variable(TestUtil.RandN([2, 8], 2))));
        Assert.Contains("NaN", ex.Message);
    }

    [Fact]
    public void TheSteOpIsRegisteredAndChecked()
    {
        // the registry of ops defined outside Autograd: each needs a check here (the STE is checked above against the identity path,
        // since finite differences of a quantiser are zero almost everywhere)
        var names = OpRegistry.NamesIn(typeof(BitLinear).Assembly).ToArray();
        Assert.Equal(new[] { "bitlinear" }, names);
    }
}
