using BitDistill.Kernels;
using static BitDistill.Tests.TestUtil;

namespace BitDistill.Tests.Kernels;

/// <summary>The INT8 row-scaled GEMV of the deployed lm_head: equal to its double-precision reference on odd sizes at every SIMD
/// level and split over threads; the per-row absmax quantiser's round trip stays within half a step of each row's scale; the
/// read-bandwidth probe sums what a plain loop sums.</summary>
public sealed class Int8RowGemvTests
{
    public static TheoryData<int, int, SimdLevel, int> Cases()
    {
        var d = new TheoryData<int, int, SimdLevel, int>();
        foreach (var level in Enum.GetValues<SimdLevel>().Where(l => l <= KernelContext.HardwareSimd))
            foreach (var (n, k) in new[] { (1, 1), (7, 33), (65, 1031), (301, 127) })
                d.Add(n, k, level, 1);
        d.Add(513, 333, KernelContext.HardwareSimd, 2); // rows split over the thread team
        return d;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void TheGemvMatchesItsReferenceOnOddSizesAtEverySimdLevel(int n, int k, SimdLevel level, int threads)
    {
        using var _ = KernelContext.Override(level, threads);
        var w = Rand([n, k], 5).ToFloatArray();
        var x = Rand([k], 6).ToFloatArray();
        var q = new sbyte[n * k]; var s = new float[n];
        Int8RowGemv.Quantize(w, n, k, q, s);
        var y = new float[n]; var yr = new float[n];
        Int8RowGemv.Multiply(q, s, n, k, x, y);
        Int8RowGemv.MultiplyReference(q, s, n, k, x, yr);
        Assert.True(RelErr(y, yr) <= 1e-6, $"relative error {RelErr(y, yr):E2}");
        // codes at the extremes (±127) and a row of zeros: widening must keep the sign
        Array.Fill(q, (sbyte)-127, 0, k);
        Int8RowGemv.Multiply(q, s, n, k, x, y);
        Int8RowGemv.MultiplyReference(q, s, n, k, x, yr);
        Assert.True(RelErr(y, yr) <= 1e-6, $"relative error {RelErr(y, yr):E2} with codes -127");
    }

    [Fact]
    public void TheReadBandwidthSumIsThePlainSumAndTheMeasureIsPositive()
    {
        var a = Enumerable.Range(0, 1037).Select(i => (long)(i * 31 - 500)).ToArray();
        Assert.Equal(a.Skip(5).Take(1000).Sum(), ReadBandwidth.Sum(a, 5, 1005));
        Assert.Equal(0, ReadBandwidth.Sum(a, 7, 7));
        Assert.Throws<ArgumentOutOfRangeException>(() => ReadBandwidth.Sum(a, 9, 2000));
        Assert.True(ReadBandwidth.Measure(threads: 1, passes: 1, megabytes: 8) > 0);
    }

    [Fact]
    public void QuantisationRoundTripsWithinHalfAStepPerRow()
    {
        const int n = 9, k = 50;
        var w = Rand([n, k], 8).ToFloatArray();
        for (int c = 0; c < k; c++) w[3 * k + c] = 0; // an all-zero row: scale 0, codes 0
        var q = new sbyte[n * k]; var s = new float[n];
        Int8RowGemv.Quantize(w, n, k, q, s);
        Assert.Equal(0f, s[3]);
        for (int r = 0; r < n; r++)
            for (int c = 0; c < k; c++)
                Assert.True(Math.Abs(q[r * k + c] * s[r] - w[r * k + c]) <= 0.5f * s[r] + 1e-7f, $"({r}, {c})");
    }
}
