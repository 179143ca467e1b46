using BitDistill.Backends.Ilgpu;
using BitDistill.Kernels;
using BitDistill.Tensors;

namespace BitDistill.Tests.Backends;

/// <summary>AWQ's solve on ILGPU's CPU emulator (grid search with the Gram matrix on the device) against the host solver
/// TernaryCalibration.AwqFromStatistics at odd sizes, per row and per tensor, with and without refitted scales: the same
/// input scales bit for bit, two host reads (mean |x| and the grid's errors), and the host solver's input errors.
/// (A private emulator, so other tests' reads do not count.)</summary>
public sealed class IlgpuAwqSolveTests : IDisposable
{
    private readonly Device _gpu = IlgpuDevices.CpuEmulator();
    private IlgpuBackend Backend => (IlgpuBackend)_gpu.Backend;

    public void Dispose() => Backend.Dispose();

    private static (Tensor W, Tensor Gram, Tensor AbsMean) Statistics(int n, int k, int m, ulong seed)
    {
        // salient input channels (every third: large activations, small weights that absmean rounds to 0), so AWQ's best α is not 0
        var salient = Enumerable.Range(0, k).Select(c => c % 3 == 0).ToArray();
        var w = TestUtil.Rand([n, k], seed, -1, 1, Device.Cpu) * Tensor.FromArray(salient.Select(v => v ? 0.2f : 1f).ToArray(), [k], Device.Cpu);
        var x = TestUtil.Rand([m, k], seed + 1, -2, 2, Device.Cpu) * Tensor.FromArray(salient.Select(v => v ? 8f : 0.25f).ToArray(), [k], Device.Cpu);
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
}
