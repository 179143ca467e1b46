using BitDistill.Kernels;

namespace BitDistill.Tests.Kernels;

/// <summary>The FP16 GEMV's fast conversion for vectors of normal halves (the common case of trained weights): every normal bit
/// pattern converts exactly, and rows that mix all-normal vectors with vectors holding a zero, subnormal, Inf or NaN (the full
/// conversion) equal the reference at every SIMD level.</summary>
public sealed class Fp16GemvFastPathTests
{
    public static TheoryData<SimdLevel> Levels()
    {
        var d = new TheoryData<SimdLevel>();
        foreach (var l in Enum.GetValues<SimdLevel>().Where(l => l <= KernelContext.HardwareSimd)) d.Add(l);
        return d;
    }

    [Theory, MemberData(nameof(Levels))]
    public void EveryNormalHalfConvertsExactly(SimdLevel level)
    {
        using var _ = KernelContext.Override(level, 1);
        // one row per normal pattern (both signs), every column that pattern: with x = e_j, y[r] is the weight itself
        var patterns = Enumerable.Range(0x0400, 0x7C00 - 0x0400).SelectMany(p => new[] { p, p | 0x8000 }).ToArray();
        const int k = 64;
        var h = new Half[patterns.Length * k];
        for (int r = 0; r < patterns.Length; r++)
            for (int c = 0; c < k; c++) h[r * k + c] = BitConverter.UInt16BitsToHalf((ushort)patterns[r]);
        var x = new float[k];
        x[37] = 1;
        var y = new float[patterns.Length];
        Gemv.MultiplyF16(h, patterns.Length, k, x, y);
        for (int r = 0; r < patterns.Length; r++)
            Assert.True((float)BitConverter.UInt16BitsToHalf((ushort)patterns[r]) == y[r], $"pattern {patterns[r]:X4}: {y[r]}");
    }

    [Theory, MemberData(nameof(Levels))]
    public void RowsMixingNormalAndSpecialVectorsEqualTheReference(SimdLevel level)
    {
        using var _ = KernelContext.Override(level, 1);
        var rng = new Random(3);
        foreach (var (n, k) in new[] { (5, 257), (9, 1030), (3, 64) })
        {
            var h = new Half[n * k];
            for (int i = 0; i < h.Length; i++) h[i] = (Half)((rng.NextDouble() * 2 - 1) * Math.Pow(2, rng.Next(-14, 8)));
            // a zero, a subnormal and a negative zero in some 64-wide blocks only
            for (int r = 0; r < n; r++)
            {
                if (k > 100) h[r * k + 70] = (Half)0f;
                if (k > 200) h[r * k + 150] = BitConverter.UInt16BitsToHalf(0x0003);
                h[r * k + k - 1] = BitConverter.UInt16BitsToHalf(0x8000);
            }
            var x = Enumerable.Range(0, k).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
            var y = new float[n]; var yr = new float[n];
            Gemv.MultiplyF16(h, n, k, x, y);
            Gemv.MultiplyF16Reference(h, n, k, x, yr);
            for (int r = 0; r < n; r++) Assert.True(Math.Abs(y[r] - yr[r]) <= 1e-5 * Math.Max(1, Math.Abs(yr[r])), $"{n}x{k} row {r}: {y[r]} vs {yr[r]}");
        }
    }
}
