using BitDistill.Kernels;
using BitDistill.Tensors;

namespace BitDistill.Tests.Tensors;

/// <summary>The fused logits distillation (<see cref="IBackend.LinearKlDistillation"/>): the CPU backend's row-block
/// version against the composite reference the reference backend inherits, on odd sizes spanning several row blocks, with
/// and without a row mask, teacher and student of different hidden sizes, at every SIMD level.</summary>
public class LinearKlDistillationParityTests
{
    public static IEnumerable<object[]> Levels() => TestUtil.SimdLevels().Select(l => new object[] { l });

    private static Tensor Cpu(int[] shape, ulong seed, float lo = -1, float hi = 1) => TestUtil.Rand(shape, seed, lo, hi, Device.Cpu);

    [Theory, MemberData(nameof(Levels))]
    public void FusedRowBlocksMatchTheReference(SimdLevel level)
    {
        using var _ = KernelContext.Override(simd: level);
        int n = CpuBackend.LinearKlDistillationRowBlock * 2 + 37, k = 19, kt = 23, v = 41;
        var hs = Cpu([n, k], 11, -2, 2); var ws = Cpu([v, k], 12);
        var ht = Cpu([n, kt], 13, -2, 2); var wt = Cpu([v, kt], 14);
        var keep = new float[n];
        for (int i = 0; i < n; i++) keep[i] = i % 5 == 2 ? 0 : 1;
        var R = Device.Reference;
        foreach (var mask in new[] { null, Tensor.FromArray(keep, [n], Device.Cpu) })
            foreach (bool withGrad in new[] { true, false })
            {
                var a = Device.Cpu.Backend.LinearKlDistillation(hs, ws, ht, wt, mask, 5f, withGrad);
                var e = R.Backend.LinearKlDistillation(hs.To(R), ws.To(R), ht.To(R), wt.To(R), mask?.To(R), 5f, withGrad);
                string what = $"{(mask is null ? "all rows" : "masked")}, grad {withGrad}";
                Assert.True(e.Loss > 0, what);
                Assert.True(Math.Abs(a.Loss - e.Loss) <= 1e-5 * Math.Abs(e.Loss), $"{what}: loss {a.Loss} vs {e.Loss}");
                Assert.Equal(withGrad, a.StudentHiddenGrad is not null);
                if (!withGrad) continue;
                TestUtil.AssertClose(a.StudentHiddenGrad!, e.StudentHiddenGrad!, 1e-5, $"{what}: dh");
                TestUtil.AssertClose(a.StudentWeightGrad!, e.StudentWeightGrad!, 1e-5, $"{what}: dW");
                if (mask is not null) Assert.All(a.StudentHiddenGrad!.Narrow(0, 2, 1).ToArray<float>(), x => Assert.Equal(0f, x));
            }
    }

    [Fact]
    public void NoKeptRowGivesZeroLossAndGradient()
    {
        var hs = Cpu([7, 5], 1); var ws = Cpu([9, 5], 2); var ht = Cpu([7, 3], 3); var wt = Cpu([9, 3], 4);
        var r = Device.Cpu.Backend.LinearKlDistillation(hs, ws, ht, wt, Tensor.Zeros([7], DType.Float32, Device.Cpu), 2f, true);
        Assert.Equal(0f, r.Loss);
        Assert.All(r.StudentWeightGrad!.ToArray<float>(), x => Assert.Equal(0f, x));
    }

    [Fact]
    public void MismatchedVocabulariesAreRejected()
    {
        var e = Assert.Throws<ArgumentException>(() => Device.Cpu.Backend.LinearKlDistillation(Cpu([3, 4], 1), Cpu([5, 4], 2), Cpu([3, 4], 3), Cpu([6, 4], 4), null, 1f, false));
        Assert.Contains("vocabulary", e.Message);
    }
}
