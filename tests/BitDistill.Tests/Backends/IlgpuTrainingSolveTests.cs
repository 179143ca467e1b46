using BitDistill.Backends.Ilgpu;
using BitDistill.Kernels;
using BitDistill.Tensors;

namespace BitDistill.Tests.Backends;

/// <summary>The training solves on ILGPU's CPU emulator against the host solvers at odd sizes, per row and per tensor, with
/// and without refitted scales: AWQ's grid search (TernaryCalibration.AwqFromStatistics: the same input scales bit for bit,
/// two host reads: mean |x| and the grid's errors) and GPTQ's error feedback (TernaryCalibration.GptqFromGram, with a dead
/// input, act-order and the host's lazy blocks: the same feedback bit for bit, two host reads: the Gram matrix and the input
/// checks), and the host solvers' input errors. (A private emulator, so other tests' reads do not count.)</summary>
public sealed class IlgpuTrainingSolveTests : IDisposable
{
    private readonly Device _gpu = IlgpuDevices.CpuEmulator();
    private IlgpuBackend Backend => (IlgpuBackend)_gpu.Backend;

    public void Dispose() => Backend.Dispose();

    private static (Tensor W, Tensor Gram, Tensor AbsMean) Statistics(int n, int k, int m, ulong seed, int deadInput = -1)
    {
        // salient input channels (every third: large activations, small weights that absmean rounds to 0), so AWQ's best α is not 0
        var salient = Enumerable.Range(0, k).Select(c => c % 3 == 0).ToArray();
        var w = TestUtil.Rand([n, k], seed, -1, 1, Device.Cpu) * Tensor.FromArray(salient.Select(v => v ? 0.2f : 1f).ToArray(), [k], Device.Cpu);
        var x = TestUtil.Rand([m, k], seed + 1, -2, 2, Device.Cpu) * Tensor.FromArray(salient.Select((v, c) => c == deadInput ? 0f : v ? 8f : 0.25f).ToArray(), [k], Device.Cpu);
        return (w, x.T.MatMul(x) * (1f / m), x.Abs().Mean(0));
    }

    [Fact]
    public void AwqOnTheDeviceChoosesTheHostSolversInputScalesWithTwoReads()
    {
        var alphas = new List<double>();
        foreach (var (n, k) in new[] { (5, 9), (7, 13) })
        {
            var (w, gram, absMean) = Statistics(n, k, 31, (ulong)(n * 100 + k));
            var wh = w.ToArray<float>();
            var gd = Array.ConvertAll(gram.ToArray<float>(), v => (double)v);
            var ad = Array.ConvertAll(absMean.ToArray<float>(), v => (double)v);
            foreach (var perRow in new[] { true, false })
                foreach (var refit in new[] { false, true })
                {
                    var options = new AwqOptions { GridPoints = 11, PerRowScale = perRow, RefitScale = refit };
                    var expected = TernaryCalibration.AwqFromStatistics(wh, n, k, gd, ad, options);
                    alphas.Add(expected.Alpha);
                    long before = Backend.HostReads;
                    var s = _gpu.Backend.SolveTernaryAwq(w.To(_gpu), gram.To(_gpu), absMean.To(_gpu), options);
                    Assert.Equal(2, Backend.HostReads - before);
                    Assert.Equal(_gpu, s.Device);
                    Assert.Equal(expected.Weights.InputScales, s.ToArray<float>());
                }
        }
        Assert.Contains(alphas, a => a > 0); // the grid search chose something other than plain absmean somewhere
    }

    [Fact]
    public void AwqOnTheDeviceRejectsWhatTheHostSolverRejects()
    {
        var (w, gram, absMean) = Statistics(3, 4, 9, 7);
        var options = new AwqOptions { GridPoints = 5 };
        var nan = w.ToArray<float>(); nan[6] = float.NaN;
        var e = Assert.Throws<ArgumentException>(() => _gpu.Backend.SolveTernaryAwq(Tensor.FromArray(nan, [3, 4], _gpu), gram.To(_gpu), absMean.To(_gpu), options));
        Assert.Contains("non-finite value (NaN) at row 1, column 2", e.Message);
        var negative = gram.ToArray<float>(); negative[5] = -1;
        e = Assert.Throws<ArgumentException>(() => _gpu.Backend.SolveTernaryAwq(w.To(_gpu), Tensor.FromArray(negative, [4, 4], _gpu), absMean.To(_gpu), options));
        Assert.Contains("negative diagonal entry (-1) at 1", e.Message);
        e = Assert.Throws<ArgumentException>(() => _gpu.Backend.SolveTernaryAwq(w.To(_gpu), Tensor.Ones(4, 5).To(_gpu), absMean.To(_gpu), options));
        Assert.Contains("gram must be [4, 4]", e.Message);
        e = Assert.Throws<ArgumentException>(() => _gpu.Backend.SolveTernaryAwq(w.To(_gpu), gram.To(_gpu), (absMean * -1f).To(_gpu), options));
        Assert.Contains("absMean[0]", e.Message);
    }

    [Fact]
    public void GptqOnTheDeviceGivesTheHostSolversFeedbackWithTwoReads()
    {
        var variants = new (string What, GptqOptions Options)[]
        {
            ("defaults", new GptqOptions()),
            ("per tensor", new GptqOptions { PerRowScale = false }),
            ("no refit", new GptqOptions { RefitScale = false }),
            ("per tensor, no refit", new GptqOptions { PerRowScale = false, RefitScale = false }),
            ("act order, blocks of 4, damping 0.1", new GptqOptions { ActOrder = true, BlockSize = 4, Damping = 0.1 }),
        };
        foreach (var (n, k) in new[] { (5, 9), (7, 13) })
        {
            var (w, gram, _) = Statistics(n, k, 31, (ulong)(n * 10 + k), deadInput: 1);
            var wh = w.ToArray<float>();
            var gd = Array.ConvertAll(gram.ToArray<float>(), v => (double)v);
            foreach (var (what, options) in variants)
            {
                var expected = TernaryCalibration.GptqFromGram(wh, n, k, gd, options);
                long before = Backend.HostReads;
                var g = _gpu.Backend.SolveTernaryGptq(w.To(_gpu), gram.To(_gpu), options);
                Assert.Equal(2, Backend.HostReads - before);
                Assert.Equal(_gpu, g.Feedback.Device);
                var feedback = Enumerable.Range(0, n * k).Select(i => expected.CompensatedWeights[i] - wh[i]).ToArray();
                Assert.True(Enumerable.Range(0, n * k).Any(i => i % k != 1 && feedback[i] != 0), $"{what}: error feedback beside the dead input");
                Assert.Equal(feedback, g.Feedback.ToArray<float>());
                var rounding = expected.RoundingScales.Length == 1 ? Enumerable.Repeat(expected.RoundingScales[0], n).ToArray() : expected.RoundingScales;
                Assert.Equal(rounding, g.RoundingScales.ToArray<float>());
                // the refit's least squares sum G·q in another order than the host's SIMD dot products: equal to float rounding
                TestUtil.AssertClose(g.Scales.To(Device.Cpu), Tensor.FromArray(expected.Weights.RowScales(), [n], Device.Cpu), 1e-6, $"{what} scales");
            }
        }
    }

    [Fact]
    public void GptqAndTernarizationReturnTheirTemporariesToThePoolAndReuseThemOnTheNextCall()
    {
        // host arguments: their device copies, the scales, codes and plan are the calls' own temporaries (≥ 4 KB: pooled)
        var (w, gram, _) = Statistics(64, 64, 31, 77);
        var pool = Backend.Pool;
        var first = _gpu.Backend.SolveTernaryGptq(w, gram, new GptqOptions());
        long pooled = pool.PooledBytes, fresh = pool.FreshAllocations;
        Assert.True(pooled >= 64 * 64 * (4 + 4 + 1), $"the solve's weight and Gram copies and codes went back to the pool: {pooled} bytes");
        var second = _gpu.Backend.SolveTernaryGptq(w, gram, new GptqOptions());
        Assert.Equal(fresh, pool.FreshAllocations); // the second solve reused them
        Assert.Equal(first.Feedback.ToArray<float>(), second.Feedback.ToArray<float>()); // and its results are its own, not pooled
        Assert.Equal(first.Scales.ToArray<float>(), second.Scales.ToArray<float>());

        var t = _gpu.Backend.TernarizeWeights(w, TernaryScaleMode.PerRow);
        Assert.Equal(fresh, pool.FreshAllocations); // the weight's copy came from the pool and went back
        Assert.Equal(Device.Cpu.Backend.TernarizeWeights(w, TernaryScaleMode.PerRow).Codes.ToArray<sbyte>(), t.Codes.ToArray<sbyte>());
        Assert.Equal(pooled, pool.PooledBytes);
    }

    [Fact]
    public void GptqWithAGroupPerRowGivesTheHostSolversFeedbackBitForBit()
    {
        // the GPUs' kernel (the group shares each column's error and updates the later columns) forced on an emulator; 131
        // inputs: a thread's second stride of columns
        var grouped = IlgpuDevices.CpuEmulator(groupRows: true);
        try
        {
            foreach (var (n, k, options) in new[] { (7, 13, new GptqOptions()), (5, 9, new GptqOptions { ActOrder = true, PerRowScale = false, BlockSize = 4 }), (2, 131, new GptqOptions()) })
            {
                var (w, gram, _) = Statistics(n, k, 31, (ulong)(n * 10 + k), deadInput: 1);
                var wh = w.ToArray<float>();
                var expected = TernaryCalibration.GptqFromGram(wh, n, k, Array.ConvertAll(gram.ToArray<float>(), v => (double)v), options);
                var g = grouped.Backend.SolveTernaryGptq(w.To(grouped), gram.To(grouped), options);
                Assert.Equal(Enumerable.Range(0, n * k).Select(i => expected.CompensatedWeights[i] - wh[i]).ToArray(), g.Feedback.ToArray<float>());
                TestUtil.AssertClose(g.Scales.To(Device.Cpu), Tensor.FromArray(expected.Weights.RowScales(), [n], Device.Cpu), 1e-6, $"{n}×{k} scales");
            }
        }
        finally { ((IlgpuBackend)grouped.Backend).Dispose(); }
    }

    [Fact]
    public void GptqOnTheDeviceRejectsWhatTheHostSolverRejects()
    {
        var (w, gram, _) = Statistics(3, 4, 9, 7);
        var nan = w.ToArray<float>(); nan[6] = float.NaN;
        var e = Assert.Throws<ArgumentException>(() => _gpu.Backend.SolveTernaryGptq(Tensor.FromArray(nan, [3, 4], _gpu), gram.To(_gpu), new GptqOptions()));
        Assert.Contains("w has a non-finite value (NaN) at row 1, column 2", e.Message);
        var bad = gram.ToArray<float>(); bad[7] = float.NaN;
        e = Assert.Throws<ArgumentException>(() => _gpu.Backend.SolveTernaryGptq(w.To(_gpu), Tensor.FromArray(bad, [4, 4], _gpu), new GptqOptions()));
        Assert.Contains("gram has a non-finite value (NaN) at row 1, column 3", e.Message);
        e = Assert.Throws<ArgumentException>(() => _gpu.Backend.SolveTernaryGptq(w.To(_gpu), Tensor.Ones(4, 5).To(_gpu), new GptqOptions()));
        Assert.Contains("gram must be [4, 4]", e.Message);
    }
}
