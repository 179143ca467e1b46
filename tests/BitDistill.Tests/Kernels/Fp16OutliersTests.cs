using BitDistill.Kernels;

namespace BitDistill.Tests.Kernels;

/// <summary>The FP16 GEMV with an outlier table: <see cref="Fp16Outliers.Find"/> finds exactly the zeros, subnormals, Inf and NaN,
/// and the GEMV that converts every half as a normal one and then corrects those equals the reference at every SIMD level,
/// on one thread and two, with outliers in the vector part and the tail of rows.</summary>
public sealed class Fp16OutliersTests
{
    public static TheoryData<SimdLevel, int> LevelsAndThreads()
    {
        var d = new TheoryData<SimdLevel, int>();
        foreach (var l in Enum.GetValues<SimdLevel>().Where(l => l <= KernelContext.HardwareSimd))
            foreach (int t in new[] { 1, 2 }) d.Add(l, t);
        return d;
    }

    private static bool IsOutlier(Half h) => !Half.IsNormal(h);

    // float summation error bound for row r: 1e-5 of Σ|w·x| (cancellation makes y itself the wrong scale)
    private static void AssertClose(Half[] h, int k, float[] x, float[] y, float[] yr, string what)
    {
        for (int r = 0; r < y.Length; r++)
        {
            double mass = 0;
            for (int c = 0; c < k; c++) mass += Math.Abs((double)(float)h[r * k + c] * x[c]);
            Assert.True(Math.Abs(y[r] - yr[r]) <= 1e-5 * mass, $"{what} row {r}: {y[r]} vs {yr[r]} (Σ|w·x| = {mass})");
        }
    }

    // random halves over a wide exponent range, with zeros (both signs) and subnormals sprinkled at random, in the tail too
    private static Half[] Matrix(Random rng, int n, int k, double outlierShare)
    {
        var h = new Half[n * k];
        for (int i = 0; i < h.Length; i++)
        {
            h[i] = (Half)((rng.NextDouble() * 2 - 1) * Math.Pow(2, rng.Next(-14, 8)));
            if (rng.NextDouble() < outlierShare)
                h[i] = rng.Next(3) switch
                {
                    0 => (Half)0f,
                    1 => BitConverter.UInt16BitsToHalf(0x8000),
                    _ => BitConverter.UInt16BitsToHalf((ushort)(rng.Next(1, 0x400) | (rng.Next(2) << 15))),
                };
        }
        return h;
    }

    [Fact]
    public void FindListsExactlyTheZerosSubnormalsInfinitiesAndNaNsRowByRow()
    {
        var rng = new Random(5);
        int n = 7, k = 133;
        var h = Matrix(rng, n, k, 0.01);
        h[3 * k + 132] = Half.PositiveInfinity; h[4 * k] = Half.NegativeInfinity; h[5 * k + 70] = Half.NaN; h[6 * k + 131] = Half.Epsilon;
        var o = Fp16Outliers.Find(h, n, k, maxShare: 1)!;
        Assert.Equal(h.Count(IsOutlier), o.Count);
        Assert.Equal((n, k), (o.Rows, o.Columns));
    }

    [Fact]
    public void FindGivesUpWhenOutliersPassTheShareAndChecksItsArguments()
    {
        var h = new Half[10 * 64]; // all zeros: every half an outlier
        Assert.Null(Fp16Outliers.Find(h, 10, 64));
        Assert.NotNull(Fp16Outliers.Find(h, 10, 64, maxShare: 1));
        for (int i = 0; i < h.Length; i++) h[i] = (Half)1f;
        h[5] = (Half)0f;
        Assert.Equal(1, Fp16Outliers.Find(h, 10, 64, maxShare: 1.0 / 640)!.Count);
        Assert.Null(Fp16Outliers.Find(h, 10, 64, maxShare: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => Fp16Outliers.Find(h, 10, 64, maxShare: double.NaN));
        Assert.ThrowsAny<ArgumentException>(() => Fp16Outliers.Find(h, 10, 63));
        Assert.Equal(0, Fp16Outliers.Find([], 0, 64)!.Count);
    }

    [Theory, MemberData(nameof(LevelsAndThreads))]
    public void TheGemvWithOutliersEqualsTheReference(SimdLevel level, int threads)
    {
        using var _ = KernelContext.Override(level, threads);
        var rng = new Random(11 + (int)level * 3 + threads);
        foreach (var (n, k) in new[] { (5, 257), (9, 1030), (3, 64), (600, 77), (2, 5) })
        {
            var h = Matrix(rng, n, k, 0.02);
            var x = Enumerable.Range(0, k).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
            var o = Fp16Outliers.Find(h, n, k, maxShare: 1)!;
            var y = new float[n]; var yr = new float[n];
            Gemv.MultiplyF16(h, n, k, x, y, o);
            Gemv.MultiplyF16Reference(h, n, k, x, yr);
            AssertClose(h, k, x, y, yr, $"{n}x{k}");
        }
    }

    // Rows of subnormals and zeros with a few small normals: a wrong correction would be as large as the result itself.
    [Theory, MemberData(nameof(LevelsAndThreads))]
    public void RowsOfSubnormalsAreCorrectedExactlyEnough(SimdLevel level, int threads)
    {
        using var _ = KernelContext.Override(level, threads);
        var rng = new Random(17);
        foreach (var (n, k) in new[] { (4, 97), (300, 64), (3, 1030) })
        {
            var h = new Half[n * k];
            for (int i = 0; i < h.Length; i++)
                h[i] = rng.Next(10) == 0 ? (Half)((rng.NextDouble() * 2 - 1) * Math.Pow(2, -13))
                    : BitConverter.UInt16BitsToHalf((ushort)(rng.Next(0, 0x400) | (rng.Next(2) << 15)));
            var x = Enumerable.Range(0, k).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
            var o = Fp16Outliers.Find(h, n, k, maxShare: 1)!;
            Assert.True(o.Count > h.Length * 8 / 10);
            var y = new float[n]; var yr = new float[n];
            Gemv.MultiplyF16(h, n, k, x, y, o);
            Gemv.MultiplyF16Reference(h, n, k, x, yr);
            AssertClose(h, k, x, y, yr, $"{n}x{k}");
        }
    }

    [Theory, MemberData(nameof(LevelsAndThreads))]
    public void InfinitiesAndNaNsInTheWeightsGiveTheReferencesNonFiniteRows(SimdLevel level, int threads)
    {
        using var _ = KernelContext.Override(level, threads);
        var rng = new Random(2);
        int n = 6, k = 300;
        var h = Matrix(rng, n, k, 0.01);
        h[0 * k + 10] = Half.PositiveInfinity;                                        // +Inf
        h[1 * k + 299] = Half.NegativeInfinity;                                       // −Inf in the tail
        h[2 * k + 5] = Half.PositiveInfinity; h[2 * k + 200] = Half.NegativeInfinity; // Inf − Inf = NaN
        h[3 * k + 64] = Half.NaN;                                                     // NaN
        h[4 * k + 7] = Half.PositiveInfinity;                                         // Inf × 0 = NaN
        var x = Enumerable.Range(0, k).Select(_ => (float)(rng.NextDouble() + 0.5)).ToArray();
        x[7] = 0;
        var y = new float[n]; var yr = new float[n];
        Gemv.MultiplyF16(h, n, k, x, y, Fp16Outliers.Find(h, n, k, maxShare: 1)!);
        Gemv.MultiplyF16Reference(h, n, k, x, yr);
        Assert.Equal(float.PositiveInfinity, yr[0]);
        Assert.Equal(float.NegativeInfinity, yr[1]);
        Assert.True(float.IsNaN(yr[2]) && float.IsNaN(yr[3]) && float.IsNaN(yr[4]));
        for (int r = 0; r < 5; r++) Assert.True(yr[r].Equals(y[r]), $"row {r}: {y[r]} vs {yr[r]}");
        AssertClose(h[(5 * k)..], k, x, y[5..], yr[5..], "finite");
    }

    [Theory, MemberData(nameof(LevelsAndThreads))]
    public void EveryNormalHalfConvertsExactlyWithoutAnyOutlier(SimdLevel level, int threads)
    {
        using var _ = KernelContext.Override(level, threads);
        var patterns = Enumerable.Range(0x0400, 0x7C00 - 0x0400).SelectMany(p => new[] { p, p | 0x8000 }).ToArray();
        const int k = 67; // 64 in vectors, 3 in the tail
        var h = new Half[patterns.Length * k];
        for (int r = 0; r < patterns.Length; r++)
            for (int c = 0; c < k; c++) h[r * k + c] = BitConverter.UInt16BitsToHalf((ushort)patterns[r]);
        var o = Fp16Outliers.Find(h, patterns.Length, k)!;
        Assert.Equal(0, o.Count);
        foreach (int col in new[] { 37, 65 })
        {
            var x = new float[k];
            x[col] = 1;
            var y = new float[patterns.Length];
            Gemv.MultiplyF16(h, patterns.Length, k, x, y, o);
            for (int r = 0; r < patterns.Length; r++)
                Assert.True((float)BitConverter.UInt16BitsToHalf((ushort)patterns[r]) == y[r], $"pattern {patterns[r]:X4}, column {col}: {y[r]}");
        }
    }

    [Fact]
    public void OutliersOfAnotherShapeAreRefused()
    {
        var h = new Half[4 * 8];
        var o = Fp16Outliers.Find(h, 4, 8, maxShare: 1)!;
        var e = Assert.Throws<ArgumentException>(() => Gemv.MultiplyF16(h, 8, 4, new float[4], new float[8], o));
        Assert.Contains("[4, 8]", e.Message);
    }
}
