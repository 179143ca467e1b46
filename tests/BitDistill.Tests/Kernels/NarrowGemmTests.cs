using BitDistill.Kernels;

namespace BitDistill.Tests;

/// <summary>The narrow GEMM of the relation gradient against its triple loop and against Sgemm, at every SIMD level and odd sizes.</summary>
public class NarrowGemmTests
{
    public static IEnumerable<object[]> Cases() =>
        from level in Enum.GetValues<SimdLevel>().Where(l => l <= KernelContext.HardwareSimd)
        from shape in new[] { (1, 1, 1), (3, 5, 7), (7, 33, 8), (13, 31, 12), (257, 256, 8), (256, 256, 4), (5, 9, 64), (6, 17, 35), (9, 7, 13) }
        select new object[] { level, shape.Item1, shape.Item2, shape.Item3 };

    [Theory, MemberData(nameof(Cases))]
    public void EqualsTheTripleLoopAndSgemm(SimdLevel level, int m, int k, int n)
    {
        var r = new Random(m * 1000 + k * 10 + n);
        var a = Enumerable.Range(0, m * k).Select(_ => (float)(r.NextDouble() * 2 - 1)).ToArray();
        var b = Enumerable.Range(0, k * n).Select(_ => (float)(r.NextDouble() * 2 - 1)).ToArray();
        var want = new float[m * n]; var got = new float[m * n]; var sgemm = new float[m * n];
        NarrowGemm.Reference(a, b, want, m, k, n, 0.37f);
        using (KernelContext.Override(simd: level)) NarrowGemm.Multiply(a, b, got, m, k, n, 0.37f);
        Sgemm.Multiply(false, false, m, n, k, 0.37f, a, k, b, n, 0f, sgemm, n);
        // same order of summation as the reference at every level: equal bit for bit
        Assert.Equal(want, got);
        for (int i = 0; i < want.Length; i++) Assert.True(Math.Abs(sgemm[i] - got[i]) <= 1e-5f * (1 + Math.Abs(sgemm[i])), $"c[{i}] = {got[i]}, Sgemm {sgemm[i]}");
    }

    [Fact]
    public void NaNInARowStaysInThatRow()
    {
        var a = new float[4 * 3]; a[3] = float.NaN; // row 1
        var b = Enumerable.Repeat(1f, 3 * 8).ToArray();
        var c = new float[4 * 8];
        NarrowGemm.Multiply(a, b, c, 4, 3, 8, 1f);
        for (int i = 0; i < 4; i++) for (int j = 0; j < 8; j++) Assert.Equal(i == 1, float.IsNaN(c[i * 8 + j]));
    }
}
