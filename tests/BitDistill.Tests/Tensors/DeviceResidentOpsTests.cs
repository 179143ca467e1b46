using BitDistill.Kernels;
using BitDistill.Tensors;

namespace BitDistill.Tests.Tensors;

/// <summary>The backend operations that keep a layer's quantisation state and the sampler's logits on the tensors' device
/// (ternarisation with calibrated scales given as tensors, the GPTQ/AWQ training solves, token sampling): the CPU backend
/// against the defaults the reference backend inherits, and both against the host kernels they wrap.</summary>
public class DeviceResidentOpsTests
{
    private static Tensor Cpu(int[] shape, ulong seed, float lo = -1, float hi = 1) => TestUtil.Rand(shape, seed, lo, hi, Device.Cpu);

    [Fact]
    public void SamplingOnTheCpuBackendChoosesTheSameTokensAsTheHostCopyDefault()
    {
        const int vocab = 1003;
        var settings = new[]
        {
            new SamplerSettings { Greedy = true },
            new SamplerSettings { Temperature = 0.7f, TopK = 40, TopP = 0.9f, RepetitionPenalty = 1.3f, Seed = 5 },
            new SamplerSettings { Temperature = 1.5f, Seed = 11 },
        };
        foreach (var s in settings)
        {
            var cpu = new TokenSampler(s); var reference = new TokenSampler(s);
            var seen = new List<int> { 3, 17, 500 };
            for (int step = 0; step < 20; step++)
            {
                var logits = Cpu([1, vocab], (ulong)(100 + step), -4, 4);
                int a = Device.Cpu.Backend.SampleToken(logits.Clone(), cpu, seen.ToArray());
                int b = Device.Reference.Backend.SampleToken(logits.To(Device.Reference), reference, seen.ToArray());
                Assert.Equal(b, a);
                Assert.InRange(a, 0, vocab - 1);
                seen.Add(a);
            }
        }
        var broken = Tensor.FromArray(new float[] { 0, float.NaN, 1 }, [3], Device.Cpu);
        Assert.Throws<InvalidOperationException>(() => Device.Cpu.Backend.SampleToken(broken, new TokenSampler(new SamplerSettings { Greedy = true }), []));
        Assert.Throws<InvalidOperationException>(() => Device.Reference.Backend.SampleToken(broken.To(Device.Reference), new TokenSampler(new SamplerSettings { Greedy = true }), []));
    }

    [Fact]
    public void SamplingAStridedRowReadsTheRowNotItsNeighbours()
    {
        var m = Tensor.FromArray(new float[] { 0, 9, 5, 1, 0, 7 }, [3, 2], Device.Cpu); // column 0 = [0, 5, 0]: argmax 1
        var greedy = new TokenSampler(new SamplerSettings { Greedy = true });
        Assert.Equal(1, Device.Cpu.Backend.SampleToken(m.Narrow(1, 0, 1), greedy, []));
        Assert.Equal(1, Device.Reference.Backend.SampleToken(m.To(Device.Reference).Narrow(1, 0, 1), greedy, []));
    }

    [Fact]
    public void TernarisationWithCalibratedScaleTensorsMatchesTheHostQuantiser()
    {
        const int n = 7, k = 13;
        var w = Cpu([n, k], 1, -2, 2);
        var fixedScales = Cpu([n], 2, 0.2f, 1.5f);
        var rounding = Cpu([n], 3, 0.2f, 1.5f);
        foreach (var device in new[] { Device.Cpu, Device.Reference })
        {
            var t = device.Backend.TernarizeWeights(w.To(device), TernaryScaleMode.PerRow, null, fixedScales.To(device), rounding.To(device));
            var codes = new sbyte[n * k];
            TernaryQuantizer.QuantizeWithRowScales(w.ToArray<float>(), n, k, rounding.ToArray<float>(), codes);
            Assert.Equal(codes, t.Codes.ToArray<sbyte>());
            Assert.Equal(fixedScales.ToArray<float>(), t.Scales.ToArray<float>());
            var f = fixedScales.ToArray<float>();
            Assert.Equal(Enumerable.Range(0, n * k).Select(i => codes[i] * f[i / k]).ToArray(), t.Dequantized.ToArray<float>());
            Assert.Same(device, t.Dequantized.Device);
            Assert.Same(device, t.Codes.Device);
            var e = Assert.Throws<ArgumentException>(() => device.Backend.TernarizeWeights(w.To(device), TernaryScaleMode.PerRow, null, Tensor.Ones(n + 1).To(device)));
            Assert.Contains("fixed row scales must be [7]", e.Message);
        }
    }

    [Fact]
    public void ShareAndFlipRateDiagnosticsCountTheCodes()
    {
        var w = Tensor.FromArray(new float[] { 1, -1, 0, 0.01f, 2, -2 }, [2, 3], Device.Cpu);
        var a = Device.Cpu.Backend.TernarizeWeights(w, TernaryScaleMode.PerRow);
        Assert.Equal(new sbyte[] { 1, -1, 0, 0, 1, -1 }, a.Codes.ToArray<sbyte>());
        var (minus, zero, plus) = a.Shares();
        Assert.Equal((2 / 6.0, 2 / 6.0, 2 / 6.0), (minus, zero, plus));
        var b = Device.Cpu.Backend.TernarizeWeights(Tensor.FromArray(new float[] { 1, 1, 0, 0.01f, 2, -2 }, [2, 3], Device.Cpu), TernaryScaleMode.PerRow);
        Assert.Equal(1 / 6.0, b.ChangedShare(a));
        Assert.Equal(0, a.ChangedShare(a));
        var other = Device.Cpu.Backend.TernarizeWeights(Tensor.Ones(3, 2), TernaryScaleMode.PerRow);
        Assert.Throws<ArgumentException>(() => a.ChangedShare(other));
    }

    [Fact]
    public void TrainingSolvesReturnTheHostSolversResultsOnTheWeightsDevice()
    {
        const int n = 5, k = 9, m = 40;
        var w = Cpu([n, k], 4);
        var x = Cpu([m, k], 5, -2, 2);
        var gram = x.T.MatMul(x) * (1f / m);
        var absMean = x.Abs().Mean(0);
        var wh = w.ToArray<float>();
        var gd = Array.ConvertAll(gram.ToArray<float>(), v => (double)v);
        var expected = TernaryCalibration.GptqFromGram(wh, n, k, gd, new GptqOptions());
        var awq = TernaryCalibration.AwqFromStatistics(wh, n, k, gd, Array.ConvertAll(absMean.ToArray<float>(), v => (double)v), new AwqOptions { RefitScale = false, GridPoints = 11 });
        foreach (var device in new[] { Device.Cpu, Device.Reference })
        {
            var g = device.Backend.SolveTernaryGptq(w.To(device), gram.To(device), new GptqOptions());
            Assert.Same(device, g.Feedback.Device);
            Assert.Equal(Enumerable.Range(0, n * k).Select(i => expected.CompensatedWeights[i] - wh[i]).ToArray(), g.Feedback.ToArray<float>());
            Assert.Equal(expected.Weights.RowScales(), g.Scales.ToArray<float>());
            Assert.Equal(expected.RoundingScales.Length == 1 ? Enumerable.Repeat(expected.RoundingScales[0], n).ToArray() : expected.RoundingScales, g.RoundingScales.ToArray<float>());
            var s = device.Backend.SolveTernaryAwq(w.To(device), gram.To(device), absMean.To(device), new AwqOptions { RefitScale = false, GridPoints = 11 });
            Assert.Equal(awq.Weights.InputScales, s.ToArray<float>());
            Assert.Throws<ArgumentException>(() => device.Backend.SolveTernaryGptq(w.To(device), Tensor.Ones(k, k + 1).To(device), new GptqOptions()));
        }
    }
}
