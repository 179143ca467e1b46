using BitDistill.Kernels;
using static BitDistill.Tests.TestUtil;

namespace BitDistill.Tests.Kernels;

/// <summary>The INT8 row-scaled GEMV of the deployed lm_head: bit-equal to its scalar reference (16-bit activations, 64-bit
/// integer dot products) on odd sizes at every SIMD level and split over threads, without overflow at the extremes; within the
/// 16-bit rounding bound of the float product; NaN out for non-finite input; the per-row absmax quantiser's round trip stays
/// within half a step of each row's scale; the read-bandwidth probe sums what a plain loop sums.</summary>
public sealed class Int8RowGemvTests
{
    public static TheoryData<int, int, SimdLevel, int, bool> Cases()
    {
        var d = new TheoryData<int, int, SimdLevel, int, bool>();
        foreach (var level in Enum.GetValues<SimdLevel>().Where(l => l <= KernelContext.HardwareSimd))
            foreach (var (n, k) in new[] { (1, 1), (7, 33), (65, 1031), (301, 127), (3, 4096 + 37) })
                d.Add(n, k, level, 1, false);
        foreach (var (n, k) in new[] { (7, 33), (3, 4096 + 37) })
            d.Add(n, k, SimdLevel.Vector128, 1, true); // the portable 128-bit path (ARM's)
        d.Add(513, 333, KernelContext.HardwareSimd, 2, false); // rows split over the thread team
        d.Add(2, 16384 + 3, KernelContext.HardwareSimd, 1, false); // activations too wide for the stack
        return d;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void TheGemvMatchesItsReferenceOnOddSizesAtEverySimdLevel(int n, int k, SimdLevel level, int threads, bool portable)
    {
        using var _ = KernelContext.Use(KernelContext.Current with { Simd = level, DegreeOfParallelism = threads, Portable128 = portable });
        var w = Rand([n, k], 5).ToFloatArray();
        var x = Rand([k], 6).ToFloatArray();
        var q = new sbyte[n * k]; var s = new float[n];
        Int8RowGemv.Quantize(w, n, k, q, s);
        var y = new float[n]; var yr = new float[n];
        Int8RowGemv.Multiply(q, s, n, k, x, y);
        Int8RowGemv.MultiplyReference(q, s, n, k, x, yr);
        Assert.Equal(yr, y);
        // codes at the extremes (±127) against activations at ±32767: widening keeps the sign, and the dot products
        // (up to k·127·32767, beyond 32 bits once k > 516) do not overflow
        Array.Fill(q, (sbyte)-127, 0, k);
        if (n > 1) Array.Fill(q, (sbyte)127, k, k);
        Array.Fill(x, 3f);
        Int8RowGemv.Multiply(q, s, n, k, x, y);
        Int8RowGemv.MultiplyReference(q, s, n, k, x, yr);
        Assert.Equal(yr, y);
        Assert.Equal(-127.0 * k * 3 * s[0], y[0], 1e-5 * 127.0 * k * 3 * s[0]);
    }

    [Fact]
    public void SixteenBitActivationsStayWithinTheirRoundingBoundOfTheFloatProduct()
    {
        const int n = 37, k = 1031;
        var w = Rand([n, k], 11).ToFloatArray();
        var x = Rand([k], 12, -5, 5).ToFloatArray();
        x[17] = 40; // one outlier sets the scale
        var q = new sbyte[n * k]; var s = new float[n];
        Int8RowGemv.Quantize(w, n, k, q, s);
        var y = new float[n];
        Int8RowGemv.Multiply(q, s, n, k, x, y);
        double sx = 40.0 / Int8RowGemv.ActivationMax;
        for (int r = 0; r < n; r++)
        {
            double exact = 0, absCodes = 0;
            for (int c = 0; c < k; c++) { exact += (double)q[r * k + c] * x[c]; absCodes += Math.Abs(q[r * k + c]); }
            exact *= s[r];
            double bound = s[r] * absCodes * sx / 2 + 1e-6 * Math.Abs(exact);
            Assert.True(Math.Abs(y[r] - exact) <= bound, $"row {r}: {y[r]} vs {exact}, bound {bound:E2}");
        }
    }

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    [InlineData(float.NegativeInfinity)]
    public void ANonFiniteActivationMakesEveryOutputNaN(float bad)
    {
        const int n = 5, k = 70;
        var q = new sbyte[n * k]; var s = new float[n];
        Int8RowGemv.Quantize(Rand([n, k], 13).ToFloatArray(), n, k, q, s);
        var x = Rand([k], 14).ToFloatArray();
        x[41] = bad;
        var y = new float[n]; var yr = new float[n];
        Int8RowGemv.Multiply(q, s, n, k, x, y);
        Int8RowGemv.MultiplyReference(q, s, n, k, x, yr);
        Assert.All(y, v => Assert.True(float.IsNaN(v)));
        Assert.All(yr, v => Assert.True(float.IsNaN(v)));
        Array.Clear(x);
        Int8RowGemv.Multiply(q, s, n, k, x, y);
        Assert.All(y, v => Assert.Equal(0f, v));
    }

    [Fact]
    public void TheReadBandwidthSumIsThePlainSumAtEveryLevelAndTheMeasureIsPositive()
    {
        var a = Enumerable.Range(0, 1037).Select(i => (long)(i * 31 - 500) * 0x1_0000_0001L).ToArray();
        a[700] = long.MaxValue; // the sum wraps as the plain loop's does
        foreach (var level in Enum.GetValues<SimdLevel>().Where(l => l <= KernelContext.HardwareSimd))
        {
            using var _ = KernelContext.Override(level, 1);
            foreach (var (s, e) in new[] { (5, 1005), (0, 1037), (3, 40), (11, 12) })
            {
                long expected = 0;
                for (int i = s; i < e; i++) expected = unchecked(expected + a[i]);
                Assert.Equal(expected, ReadBandwidth.Sum(a, s, e));
                Assert.Equal(expected, ReadBandwidth.Sum(a, s, e, prefetch: false));
            }
            Assert.Equal(0, ReadBandwidth.Sum(a, 7, 7));
            Assert.Throws<ArgumentOutOfRangeException>(() => ReadBandwidth.Sum(a, 9, 2000));
        }
        Assert.True(ReadBandwidth.Measure(threads: 1, passes: 1, megabytes: 8) > 0);
        Assert.True(ReadBandwidth.Measure(threads: 2, passes: 1, megabytes: 8) > 0);
        var buffer = ReadBandwidth.CreateBuffer(4); // one buffer, probed again and again (the runtime bench, around each decode)
        Assert.True(ReadBandwidth.Measure(buffer, threads: 1, passes: 1) > 0);
        Assert.True(ReadBandwidth.Measure(buffer, threads: 2, passes: 2) > 0);
        Assert.Throws<ArgumentException>(() => ReadBandwidth.Measure(new long[10], threads: 1, passes: 1));
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
