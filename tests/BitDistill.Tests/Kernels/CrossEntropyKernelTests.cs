using BitDistill.Kernels;

namespace BitDistill.Tests;

/// <summary>The fused cross-entropy row kernel (log-sum-exp and gradient in one exp pass) against the two-pass definition
/// (LogSumExp, then scale·(exp(x − lse) − onehot)) in double, at odd widths and every SIMD level.</summary>
public class CrossEntropyKernelTests
{
    public static IEnumerable<object[]> Cases() =>
        from level in Enum.GetValues<SimdLevel>().Where(l => l <= KernelContext.HardwareSimd)
        from n in new[] { 1, 5, 17, 31, 257, 3001, 8192 }
        select new object[] { level, n };

    [Theory, MemberData(nameof(Cases))]
    public void FusedRowMatchesTheDefinition(SimdLevel level, int n)
    {
        var r = new Random(n);
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float)(r.NextDouble() * 20 - 10);
        int target = n / 3; float scale = 0.37f;
        var g = new float[n];
        float lse;
        using (KernelContext.Override(simd: level)) lse = BackwardKernels.LogSumExpAndCrossEntropyGrad(x, target, scale, g);
        double m = x.Max(), s = x.Sum(v => Math.Exp(v - m)), refLse = m + Math.Log(s);
        Assert.True(Math.Abs(lse - refLse) <= 1e-5 * Math.Max(1, Math.Abs(refLse)), $"lse {lse} vs {refLse}");
        for (int i = 0; i < n; i++)
        {
            double want = scale * (Math.Exp(x[i] - refLse) - (i == target ? 1 : 0));
            Assert.True(Math.Abs(g[i] - want) <= 1e-6 * scale + 1e-5 * Math.Abs(want), $"g[{i}] = {g[i]}, expected {want}");
        }
    }

    [Theory, MemberData(nameof(Cases))]
    public void LogSumExpOfAllMinusInfinityIsMinusInfinityAndNaNStaysNaN(SimdLevel level, int n)
    {
        // as PyTorch's logsumexp: log Σ e^−∞ = log 0 = −∞ (a fully masked row), on the scalar path as on the vector ones
        using var _ = KernelContext.Override(simd: level);
        var x = Enumerable.Repeat(float.NegativeInfinity, n).ToArray();
        Assert.Equal(float.NegativeInfinity, BackwardKernels.LogSumExp(x));
        x[n / 2] = 0.5f;
        Assert.Equal(0.5f, BackwardKernels.LogSumExp(x), 6);
        x[n - 1] = float.NaN;
        Assert.True(float.IsNaN(BackwardKernels.LogSumExp(x)));
    }
}
