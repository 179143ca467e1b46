using BitDistill.Kernels;

namespace BitDistill.Tests;

/// <summary>The RoPE row kernel against its scalar definition at head widths that are and are not whole vectors, both
/// directions, in place and not, at every SIMD level.</summary>
public class RopeRowTests
{
    public static IEnumerable<object[]> Cases() =>
        from level in Enum.GetValues<SimdLevel>().Where(l => l <= KernelContext.HardwareSimd)
        from d in new[] { 2, 10, 32, 64, 96, 128 }
        from transpose in new[] { false, true }
        select new object[] { level, d, transpose };

    [Theory, MemberData(nameof(Cases))]
    public void MatchesTheReference(SimdLevel level, int d, bool transpose)
    {
        var r = new Random(d);
        float[] R() { var a = new float[d]; for (int i = 0; i < d; i++) a[i] = (float)(r.NextDouble() * 2 - 1); return a; }
        var x = R(); var cos = R(); var sin = R();
        var expected = new float[d];
        RowKernels.RopeReference(x, cos, sin, expected, transpose);
        var y = new float[d]; var inPlace = (float[])x.Clone();
        using (KernelContext.Override(simd: level))
        {
            RowKernels.Rope(x, cos, sin, y, transpose);
            RowKernels.Rope(inPlace, cos, sin, inPlace, transpose);
        }
        for (int i = 0; i < d; i++)
        {
            Assert.Equal(expected[i], y[i], 5);
            Assert.Equal(expected[i], inPlace[i], 5);
        }
    }
}
