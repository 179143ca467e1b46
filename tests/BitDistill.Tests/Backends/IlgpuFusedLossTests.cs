using BitDistill.Backends.Ilgpu;
using BitDistill.Tensors;

namespace BitDistill.Tests.Backends;

/// <summary>The fused losses on ILGPU's CPU emulator against the CPU backend's fused kernels at odd sizes with masked rows:
/// cross-entropy (rows summed by the CrossEntropyRowLosses kernel), tempered-KL logits distillation, both together, and the
/// attention-relation KL. Each call reads back one value, its loss: the kept-row counts and the mean's divisor are computed
/// on the device. (A private emulator, so other tests' reads do not count.)</summary>
public sealed class IlgpuFusedLossTests : IDisposable
{
    private readonly Device _gpu = IlgpuDevices.CpuEmulator();
    private static Device Cpu => Device.Cpu;
    private IlgpuBackend Backend => (IlgpuBackend)_gpu.Backend;
    private IBackend Gpu => _gpu.Backend;

    public void Dispose() => Backend.Dispose();

    private const long Ignore = -100;
    private const int N = 13, K = 11, C = 37;

    // the reads one call makes, and its result
    private (T Result, long Reads) Counted<T>(Func<T> call)
    {
        long before = Backend.HostReads;
        var r = call();
        return (r, Backend.HostReads - before);
    }

    private static void AssertLoss(float device, float cpu, double relTol, string what) =>
        Assert.True(Math.Abs(device - cpu) <= relTol * Math.Max(1e-3, Math.Abs(cpu)), $"{what}: device {device}, CPU {cpu}");

    private static long[] Targets(params int[] ignored) =>
        Enumerable.Range(0, N).Select(i => ignored.Contains(i) ? Ignore : (long)((i * 7 + 3) % C)).ToArray();

    [Fact]
    public void CrossEntropyOnTheDeviceGivesTheCpuLossAndGradientsWithOneRead()
    {
        var (h, w) = (TestUtil.Rand([N, K], 1, -2, 2, Cpu), TestUtil.Rand([C, K], 2, -2, 2, Cpu));
        var t = Targets(0, 5, 12);
        var cpu = Cpu.Backend.LinearCrossEntropy(h, w, Tensor.FromArray(t, [N], Cpu), Ignore, N - 3, withGrad: true);
        var (gpu, reads) = Counted(() => Gpu.LinearCrossEntropy(h.To(_gpu), w.To(_gpu), Tensor.FromArray(t, [N], _gpu), Ignore, N - 3, withGrad: true));
        Assert.Equal(1, reads);
        AssertLoss(gpu.Loss, cpu.Loss, 1e-5, "CE");
        TestUtil.AssertClose(gpu.HiddenGrad!.To(Cpu), cpu.HiddenGrad!, 1e-5, "CE dh");
        TestUtil.AssertClose(gpu.WeightGrad!.To(Cpu), cpu.WeightGrad!, 1e-5, "CE dW");

        // the row-loss kernel alone: an ignored row adds nothing, and no valid row is NaN without a read
        var logits = TestUtil.Rand([N, C], 3, -4, 4, Cpu);
        var lse = Cpu.Backend.LogSumExp(logits);
        float expected = Cpu.Backend.CrossEntropyMeanLoss(logits, lse, Tensor.FromArray(t, [N], Cpu), Ignore, N - 3);
        var (mean, meanReads) = Counted(() => Gpu.CrossEntropyMeanLoss(logits.To(_gpu), lse.To(_gpu), Tensor.FromArray(t, [N], _gpu), Ignore, N - 3));
        Assert.Equal(1, meanReads);
        AssertLoss(mean, expected, 1e-6, "mean CE from logits");
        var (none, noneReads) = Counted(() => Gpu.CrossEntropyMeanLoss(logits.To(_gpu), lse.To(_gpu), Tensor.Full([N], Ignore, DType.Int64, _gpu), Ignore, 0));
        Assert.True(float.IsNaN(none));
        Assert.Equal(0, noneReads);
    }

    [Fact]
    public void TemperedKlOnTheDeviceCountsTheKeptRowsThereAndGivesTheCpuLoss()
    {
        var (hs, ws) = (TestUtil.Rand([N, K], 4, -2, 2, Cpu), TestUtil.Rand([C, K], 5, -2, 2, Cpu));
        var (ht, wt) = (TestUtil.Rand([N, K + 2], 6, -2, 2, Cpu), TestUtil.Rand([C, K + 2], 7, -2, 2, Cpu));
        var mask = Enumerable.Range(0, N).Select(i => i is 0 or 4 or 12 ? 0f : 1f).ToArray();
        foreach (var m in new[] { mask, new float[N] })
        {
            string what = m.Any(v => v != 0) ? "LD, 3 rows masked" : "LD, every row masked";
            var cpu = Cpu.Backend.LinearKlDistillation(hs, ws, ht, wt, Tensor.FromArray(m, [N], Cpu), 2.5f, withGrad: true);
            var (gpu, reads) = Counted(() => Gpu.LinearKlDistillation(hs.To(_gpu), ws.To(_gpu), ht.To(_gpu), wt.To(_gpu), Tensor.FromArray(m, [N], _gpu), 2.5f, withGrad: true));
            Assert.Equal(1, reads);
            AssertLoss(gpu.Loss, cpu.Loss, 1e-4, what); // a KL is a small difference of log-probabilities: relative 1e-4
            TestUtil.AssertClose(gpu.StudentHiddenGrad!.To(Cpu), cpu.StudentHiddenGrad!, 1e-5, what + " dh");
            TestUtil.AssertClose(gpu.StudentWeightGrad!.To(Cpu), cpu.StudentWeightGrad!, 1e-5, what + " dW");
        }
        Assert.Equal(0f, Gpu.LinearKlDistillation(hs.To(_gpu), ws.To(_gpu), ht.To(_gpu), wt.To(_gpu), Tensor.Zeros([N], DType.Float32, _gpu), 2.5f, withGrad: false).Loss);

        // CE + λ·LD: the rows with a target are found on the device; one read per loss
        var t = Targets(2, 3, 11);
        var both = Cpu.Backend.LinearCrossEntropyWithDistillation(hs, ws, Tensor.FromArray(t, [N], Cpu), Ignore, N - 3, ht, wt, 2.5f, 10f, withGrad: true);
        var (fused, fusedReads) = Counted(() => Gpu.LinearCrossEntropyWithDistillation(hs.To(_gpu), ws.To(_gpu), Tensor.FromArray(t, [N], _gpu), Ignore, N - 3,
            ht.To(_gpu), wt.To(_gpu), 2.5f, 10f, withGrad: true));
        Assert.Equal(2, fusedReads);
        AssertLoss(fused.CrossEntropy, both.CrossEntropy, 1e-5, "CE beside LD");
        AssertLoss(fused.Distillation, both.Distillation, 1e-4, "LD beside CE");
        TestUtil.AssertClose(fused.HiddenGrad!.To(Cpu), both.HiddenGrad!, 1e-5, "CE + λLD dh");
        TestUtil.AssertClose(fused.WeightGrad!.To(Cpu), both.WeightGrad!, 1e-5, "CE + λLD dW");
    }

    [Fact]
    public void AttentionRelationKlOnTheDeviceCountsTheKeptTokensThereAndGivesTheCpuLoss()
    {
        const int B = 2, R = 3, T = 7;
        var (s, te) = (TestUtil.Rand([B, R, T, 5], 8, -1, 1, Cpu), TestUtil.Rand([B, R, T, 6], 9, -1, 1, Cpu));
        var mask = new float[B * T];
        for (int i = 0; i < B * T; i++) mask[i] = i is 0 or 1 or 12 or 13 ? 0 : 1; // left padding in row 0, right padding in row 1
        foreach (var m in new[] { mask, new float[B * T] })
        {
            string what = m.Any(v => v != 0) ? "AD, padded tokens" : "AD, every token padded";
            var cpu = Cpu.Backend.AttentionRelationKl(s, te, Tensor.FromArray(m, [B, T], Cpu), 0.4f, 0.3f, withGrad: true);
            var (gpu, reads) = Counted(() => Gpu.AttentionRelationKl(s.To(_gpu), te.To(_gpu), Tensor.FromArray(m, [B, T], _gpu), 0.4f, 0.3f, withGrad: true));
            Assert.Equal(1, reads);
            AssertLoss(gpu.Loss, cpu.Loss, 1e-4, what);
            TestUtil.AssertClose(gpu.Grad!.To(Cpu), cpu.Grad!, 1e-5, what + " grad");
        }
    }
}
