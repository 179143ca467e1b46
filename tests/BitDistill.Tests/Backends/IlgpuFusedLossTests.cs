using BitDistill.Backends.Ilgpu;
using BitDistill.Tensors;

namespace BitDistill.Tests.Backends;

/// <summary>The fused losses on ILGPU's CPU emulator against the CPU backend's fused kernels at odd sizes with and without
/// masked rows: cross-entropy (rows summed by the CrossEntropyRowLosses kernel), tempered-KL logits distillation
/// (TemperedKlRows), both together (LinearCeKlRows) and the attention-relation KL (RelationRows, RelationGrad). Each call
/// reads back one value, its loss (CE + λ·LD: both losses in one copy): the kept-row counts and the mean's divisor are
/// computed on the device. (A private emulator, so other tests' reads do not count.)</summary>
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
        foreach (var (m, what) in new (float[]? Mask, string What)[] { (mask, "LD, 3 rows masked"), (new float[N], "LD, every row masked"), (null, "LD, no mask") })
        {
            var cpu = Cpu.Backend.LinearKlDistillation(hs, ws, ht, wt, m is null ? null : Tensor.FromArray(m, [N], Cpu), 2.5f, withGrad: true);
            var (gpu, reads) = Counted(() => Gpu.LinearKlDistillation(hs.To(_gpu), ws.To(_gpu), ht.To(_gpu), wt.To(_gpu),
                m is null ? null : Tensor.FromArray(m, [N], _gpu), 2.5f, withGrad: true));
            Assert.Equal(1, reads);
            AssertLoss(gpu.Loss, cpu.Loss, 1e-4, what); // a KL is a small difference of log-probabilities: relative 1e-4
            TestUtil.AssertClose(gpu.StudentHiddenGrad!.To(Cpu), cpu.StudentHiddenGrad!, 1e-5, what + " dh");
            TestUtil.AssertClose(gpu.StudentWeightGrad!.To(Cpu), cpu.StudentWeightGrad!, 1e-5, what + " dW");
            var (lossOnly, lossReads) = Counted(() => Gpu.LinearKlDistillation(hs.To(_gpu), ws.To(_gpu), ht.To(_gpu), wt.To(_gpu),
                m is null ? null : Tensor.FromArray(m, [N], _gpu), 2.5f, withGrad: false));
            Assert.Equal(1, lossReads);
            Assert.Null(lossOnly.StudentHiddenGrad);
            AssertLoss(lossOnly.Loss, cpu.Loss, 1e-4, what + " without gradients");
        }
        Assert.Equal(0f, Gpu.LinearKlDistillation(hs.To(_gpu), ws.To(_gpu), ht.To(_gpu), wt.To(_gpu), Tensor.Zeros([N], DType.Float32, _gpu), 2.5f, withGrad: false).Loss);
        Assert.True(Cpu.Backend.LinearKlDistillation(hs, ws, ht, wt, null, 2.5f, withGrad: false).Loss > 0.01f); // the inputs are far apart: a loss to compare

        // CE + λ·LD: the rows with a target are found on the device; both losses come back in one read
        foreach (var (t, valid, what) in new (long[] Targets, int Valid, string What)[] { (Targets(2, 3, 11), N - 3, "3 rows ignored"), (Targets(), N, "every row with a target") })
        {
            var both = Cpu.Backend.LinearCrossEntropyWithDistillation(hs, ws, Tensor.FromArray(t, [N], Cpu), Ignore, valid, ht, wt, 2.5f, 10f, withGrad: true);
            var (fused, fusedReads) = Counted(() => Gpu.LinearCrossEntropyWithDistillation(hs.To(_gpu), ws.To(_gpu), Tensor.FromArray(t, [N], _gpu), Ignore, valid,
                ht.To(_gpu), wt.To(_gpu), 2.5f, 10f, withGrad: true));
            Assert.Equal(1, fusedReads);
            AssertLoss(fused.CrossEntropy, both.CrossEntropy, 1e-5, "CE beside LD, " + what);
            AssertLoss(fused.Distillation, both.Distillation, 1e-4, "LD beside CE, " + what);
            TestUtil.AssertClose(fused.HiddenGrad!.To(Cpu), both.HiddenGrad!, 1e-5, "CE + λLD dh, " + what);
            TestUtil.AssertClose(fused.WeightGrad!.To(Cpu), both.WeightGrad!, 1e-5, "CE + λLD dW, " + what);
        }

        // no row with a target: CE is NaN, LD 0 and the gradients 0, as on the CPU
        var none = Enumerable.Repeat(Ignore, N).ToArray();
        var empty = Gpu.LinearCrossEntropyWithDistillation(hs.To(_gpu), ws.To(_gpu), Tensor.FromArray(none, [N], _gpu), Ignore, 0, ht.To(_gpu), wt.To(_gpu), 2.5f, 10f, withGrad: true);
        var cpuEmpty = Cpu.Backend.LinearCrossEntropyWithDistillation(hs, ws, Tensor.FromArray(none, [N], Cpu), Ignore, 0, ht, wt, 2.5f, 10f, withGrad: true);
        Assert.True(float.IsNaN(empty.CrossEntropy) && float.IsNaN(cpuEmpty.CrossEntropy));
        Assert.Equal(cpuEmpty.Distillation, empty.Distillation);
        Assert.All(empty.HiddenGrad!.To(Cpu).ToArray<float>(), v => Assert.Equal(0f, v));
        Assert.All(empty.WeightGrad!.To(Cpu).ToArray<float>(), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void AttentionRelationKlOnTheDeviceCountsTheKeptTokensThereAndGivesTheCpuLoss()
    {
        const int B = 2, R = 3, T = 7;
        var (s, te) = (TestUtil.Rand([B, R, T, 5], 8, -1, 1, Cpu), TestUtil.Rand([B, R, T, 6], 9, -1, 1, Cpu));
        var mask = new float[B * T];
        for (int i = 0; i < B * T; i++) mask[i] = i is 0 or 1 or 12 or 13 ? 0 : 1; // left padding in row 0, right padding in row 1
        foreach (var (m, what) in new (float[]? Mask, string What)[] { (mask, "AD, padded tokens"), (new float[B * T], "AD, every token padded"), (null, "AD, no mask") })
        {
            var cpu = Cpu.Backend.AttentionRelationKl(s, te, m is null ? null : Tensor.FromArray(m, [B, T], Cpu), 0.4f, 0.3f, withGrad: true);
            var (gpu, reads) = Counted(() => Gpu.AttentionRelationKl(s.To(_gpu), te.To(_gpu), m is null ? null : Tensor.FromArray(m, [B, T], _gpu), 0.4f, 0.3f, withGrad: true));
            Assert.Equal(1, reads);
            AssertLoss(gpu.Loss, cpu.Loss, 1e-4, what);
            TestUtil.AssertClose(gpu.Grad!.To(Cpu), cpu.Grad!, 1e-5, what + " grad");
            var (lossOnly, lossReads) = Counted(() => Gpu.AttentionRelationKl(s.To(_gpu), te.To(_gpu), m is null ? null : Tensor.FromArray(m, [B, T], _gpu), 0.4f, 0.3f, withGrad: false));
            Assert.Equal(1, lossReads);
            Assert.Null(lossOnly.Grad);
            AssertLoss(lossOnly.Loss, cpu.Loss, 1e-4, what + " without gradients");
            if (m is not null && m.All(v => v == 0)) Assert.Equal(0f, gpu.Loss);
            else Assert.True(cpu.Loss > 1e-3f, $"{what}: a loss to compare, got {cpu.Loss}");
        }
    }

    [Fact]
    public void AttentionRelationKlOnTheDeviceAgreesWithTheCompositeReferenceWhereTheDimensionsDiffer()
    {
        // a second odd shape (one relation head, a teacher narrower than the student) against the composite reference
        const int B = 3, R = 1, T = 5;
        var (s, te) = (TestUtil.Rand([B, R, T, 9], 10, -1.5f, 1.5f, Cpu), TestUtil.Rand([B, R, T, 4], 11, -1.5f, 1.5f, Cpu));
        var m = new float[] { 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1 };
        var mask = Tensor.FromArray(m, [B, T], Cpu);
        var reference = AttentionRelationReference.Compute(s, te, mask, 1f / 3, 0.5f, withGrad: true);
        var gpu = Gpu.AttentionRelationKl(s.To(_gpu), te.To(_gpu), mask.To(_gpu), 1f / 3, 0.5f, withGrad: true);
        AssertLoss(gpu.Loss, reference.Loss, 1e-4, "AD against the composite");
        TestUtil.AssertClose(gpu.Grad!.To(Cpu), reference.Grad!, 1e-5, "AD grad against the composite");
    }

    [Fact]
    public void DistillationLossesOnTheDeviceRejectMismatchedShapesWithOneLineErrors()
    {
        var a = Tensor.Zeros([2, 3, 4, 5], DType.Float32, _gpu);
        var e = Assert.Throws<ArgumentException>(() => Gpu.AttentionRelationKl(a, Tensor.Zeros([2, 3, 6, 5], DType.Float32, _gpu), null, 1, 1, withGrad: false));
        Assert.Contains("attention_relation_kl", e.Message);
        e = Assert.Throws<ArgumentException>(() => Gpu.AttentionRelationKl(a, a, Tensor.Zeros([2, 5], DType.Float32, _gpu), 1, 1, withGrad: false));
        Assert.Contains("token mask of 10 entries", e.Message);
        var h = Tensor.Zeros([3, 4], DType.Float32, _gpu);
        e = Assert.Throws<ArgumentException>(() => Gpu.LinearKlDistillation(h, Tensor.Zeros([5, 4], DType.Float32, _gpu), h, Tensor.Zeros([6, 4], DType.Float32, _gpu), null, 1, withGrad: false));
        Assert.Contains("vocabulary", e.Message);
        e = Assert.Throws<ArgumentException>(() => Gpu.LinearCrossEntropyWithDistillation(h, Tensor.Zeros([5, 4], DType.Float32, _gpu), Tensor.Zeros([2], DType.Int64, _gpu), Ignore, 2,
            h, Tensor.Zeros([5, 4], DType.Float32, _gpu), 1, 1, withGrad: false));
        Assert.Contains("2 targets for 3 rows", e.Message);
    }
}
