using BitDistill.Kernels;

namespace BitDistill.Tests;

/// <summary>Sgemm.Multiply against the double-accumulating reference: odd sizes, transposes, strides, every SIMD level,
/// alpha/beta, NaN/Inf, and bitwise determinism across runs and degrees of parallelism.</summary>
public class SgemmTests
{
    internal static float[] Random(int count, int seed)
    {
        var rng = new Random(seed);
        var x = new float[count];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        return x;
    }

    public static IEnumerable<object[]> Levels() =>
        Enum.GetValues<SimdLevel>().Where(l => l <= KernelContext.HardwareSimd).Select(l => new object[] { l });

    /// <summary>Runs op on fresh operands of the given shape/layout and compares to the reference (tolerance 1e-5·sqrt(k)·max|ref|).</summary>
    private static float[] Check(int m, int n, int k, bool ta, bool tb, float alpha, float beta, int pad = 0, int seed = 1)
    {
        int lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
        var a = Random((ta ? k : m) * lda, seed);
        var b = Random((tb ? n : k) * ldb, seed + 1);
        var c0 = Random(m * ldc, seed + 2);
        var expected = (float[])c0.Clone();
        var actual = (float[])c0.Clone();
        Sgemm.Reference(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, expected, ldc);
        Sgemm.Multiply(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, actual, ldc);
        double scale = 0;
        foreach (var v in expected) scale = Math.Max(scale, Math.Abs(v));
        double tol = 1e-5 * Math.Sqrt(Math.Max(k, 1)) * Math.Max(scale, 1e-30) + 1e-30;
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                int at = i * ldc + j;
                Assert.True(Math.Abs(expected[at] - actual[at]) <= tol,
                    $"m={m} n={n} k={k} ta={ta} tb={tb} α={alpha} β={beta} pad={pad} [{i},{j}]: expected {expected[at]}, got {actual[at]} (tol {tol:G3})");
            }
            for (int j = n; j < ldc; j++) Assert.Equal(c0[i * ldc + j], actual[i * ldc + j]); // padding untouched
        }
        return actual;
    }

    [Theory]
    [MemberData(nameof(Levels))]
    public void MatchesReferenceOddSizesAllTransposes(SimdLevel level)
    {
        using var _ = KernelContext.Override(level, 2);
        int[] sizes = [1, 3, 17, 33];
        foreach (bool ta in new[] { false, true })
            foreach (bool tb in new[] { false, true })
                foreach (int m in sizes)
                    foreach (int n in sizes)
                        foreach (int k in sizes)
                            Check(m, n, k, ta, tb, 1f, 0f, seed: m * 1000 + n * 10 + k);
    }

    [Theory]
    [MemberData(nameof(Levels))]
    public void MatchesReferenceBlockedPathEdgesStridesAlphaBeta(SimdLevel level)
    {
        using var _ = KernelContext.Override(level, 2);
        foreach (bool ta in new[] { false, true })
            foreach (bool tb in new[] { false, true })
            {
                Check(127, 61, 300, ta, tb, 0.5f, -1.5f, pad: 5);     // K spans two KC blocks, edge tiles both ways
                Check(70, 129, 33, ta, tb, -2f, 1f, pad: 3);
                Check(9, 1, 517, ta, tb, 1f, 0f);                     // a column vector, several K blocks
                Check(1, 200, 127, ta, tb, 1f, 0.25f, pad: 1);         // a row vector
            }
        Check(300, 1700, 40, false, false, 1f, 0f);                   // N larger than NC
        Check(257, 65, 64, true, false, 1f, 2f);                     // M larger than MC
    }

    [Theory]
    [MemberData(nameof(Levels))]
    public void RandomOddShapesTransposesAndAlphaBetaMatchReference(SimdLevel level)
    {
        using var _ = KernelContext.Override(level, 2);
        var rng = new Random(11);
        for (int trial = 0; trial < 12; trial++)
        {
            int m = rng.Next(1, 160) | 1, n = rng.Next(1, 160) | 1, k = rng.Next(40, 900) | 1;   // odd: edge tiles, K tails, several KC blocks
            bool ta = rng.Next(2) == 1, tb = rng.Next(2) == 1;
            float alpha = (float)(rng.NextDouble() * 4 - 2), beta = trial % 3 == 0 ? 0f : (float)(rng.NextDouble() * 4 - 2);
            Check(m, n, k, ta, tb, alpha, beta, pad: rng.Next(0, 4), seed: 100 + trial);
        }
    }

    [Theory]
    [MemberData(nameof(Levels))]
    public void FullSixRowPanelsWithKTailsMatchReference(SimdLevel level)
    {
        // M a multiple of 6 (every A micro-panel of the 6-row kernels is full: the transposing packer), K blocks whose length is
        // not a multiple of 8 (its scalar tail), odd leading dimensions (unaligned rows).
        using var _ = KernelContext.Override(level, 1);
        foreach (bool ta in new[] { false, true })
            foreach (bool tb in new[] { false, true })
            {
                Check(36, 48, 389, ta, tb, 1f, 0f, pad: 3);
                Check(150, 33, 45, ta, tb, 0.5f, 2f, pad: 1);
                Check(12, 16, 1101, ta, tb, -1f, 1f);
            }
    }

    [Theory]
    [MemberData(nameof(Levels))]
    public void TinyAndUnevenBlockingsMatchReference(SimdLevel level)
    {
        if (level == SimdLevel.Scalar) return;   // no blocking at the scalar level
        var (mr, nr) = Sgemm.RegisterTile(level);
        foreach (var blocking in new[] { new SgemmBlocking(8, mr, nr), new SgemmBlocking(13, 2 * mr + 1, 3 * nr - 1), new SgemmBlocking(100, 5 * mr, 2 * nr) })
        {
            var ctx = KernelContext.Current with
            {
                Simd = level, DegreeOfParallelism = 2,
                SgemmBlocking512 = blocking, SgemmBlocking256 = blocking, SgemmBlocking128 = blocking,
            };
            using var _ = KernelContext.Use(ctx);
            Check(67, 45, 203, false, false, 1f, 0f, pad: 2);
            Check(67, 45, 203, true, true, -0.5f, 1.5f, pad: 1);
        }
    }

    [Fact]
    public void KZeroScalesCAlphaZeroDoesNotReadAB()
    {
        var c = new float[] { 1, 2, 3, 4 };
        Sgemm.Multiply(false, false, 2, 2, 0, 1f, ReadOnlySpan<float>.Empty, 0, ReadOnlySpan<float>.Empty, 2, 3f, c, 2);
        Assert.Equal(new float[] { 3, 6, 9, 12 }, c);
        Sgemm.Multiply(false, false, 2, 2, 0, 1f, ReadOnlySpan<float>.Empty, 0, ReadOnlySpan<float>.Empty, 2, 0f, c, 2);
        Assert.Equal(new float[4], c);
        var a = new float[] { float.NaN, 1, 1, 1 };
        var c2 = new float[] { 1, 2, 3, 4 };
        Sgemm.Multiply(false, false, 2, 2, 2, 0f, a, 2, a, 2, 1f, c2, 2);
        Assert.Equal(new float[] { 1, 2, 3, 4 }, c2);
    }

    [Theory]
    [MemberData(nameof(Levels))]
    public void BetaZeroIgnoresNaNInCAndNaNInfPropagate(SimdLevel level)
    {
        using var _ = KernelContext.Override(level, 2);
        foreach (var (m, n, k) in new[] { (5, 7, 3), (67, 70, 40) })   // direct loop and blocked path
        {
            var a = Random(m * k, 7); var b = Random(k * n, 8);
            var c = new float[m * n]; Array.Fill(c, float.NaN);
            Sgemm.Multiply(false, false, m, n, k, 1f, a, k, b, n, 0f, c, n);
            Assert.All(c, v => Assert.True(float.IsFinite(v)));

            a[2 * k + 1] = float.NaN;            // row 2 of A → row 2 of C is NaN
            b[1 * n + 4] = float.PositiveInfinity; // column 4 of B (positive entries of column 4 of A·B become ±Inf or NaN)
            Sgemm.Multiply(false, false, m, n, k, 1f, a, k, b, n, 0f, c, n);
            for (int j = 0; j < n; j++) Assert.True(float.IsNaN(c[2 * n + j]), $"C[2,{j}] should be NaN");
            for (int i = 0; i < m; i++)
                if (i != 2) Assert.True(!float.IsFinite(c[i * n + 4]), $"C[{i},4] should be infinite");
            Assert.True(float.IsFinite(c[0 * n + 3]));
        }
    }

    [Theory]
    [MemberData(nameof(Levels))]
    public void BitwiseIdenticalAcrossRunsAndThreadCounts(SimdLevel level)
    {
        int m = 150, n = 210, k = 300;
        var a = Random(m * k, 3); var b = Random(n * k, 4);
        float[] Run(int dop, bool tb)
        {
            using var _ = KernelContext.Override(level, dop);
            var c = Random(m * n, 5);
            Sgemm.Multiply(false, tb, m, n, k, 0.75f, a, k, b, tb ? k : n, 0.5f, c, n);
            return c;
        }
        foreach (bool tb in new[] { false, true })
        {
            var one = Run(1, tb);
            Assert.Equal(one, Run(1, tb));
            var two = Run(2, tb);
            Assert.Equal(two, Run(2, tb));
            Assert.Equal(one, two);
            Assert.Equal(one, Run(3, tb));
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void BatchedMatchesPerProductWithSharedOperand(int dop)
    {
        using var _ = KernelContext.Override(degreeOfParallelism: dop);
        foreach (var (batch, m, n, k) in new[] { (5, 9, 13, 17), (3, 70, 40, 50), (6, 70, 64, 130) })
        {
            var a = Random(batch * m * k, 11); var b = Random(k * n, 12);   // B shared: strideB = 0
            var c = Random(batch * m * n, 13);
            var expected = (float[])c.Clone();
            for (int i = 0; i < batch; i++)
                Sgemm.Multiply(false, false, m, n, k, 1.5f, a.AsSpan(i * m * k), k, b, n, 0.5f, expected.AsSpan(i * m * n), n);
            Sgemm.MultiplyBatched(batch, false, false, m, n, k, 1.5f, a, k, (long)m * k, b, n, 0, 0.5f, c, n, (long)m * n);
            Assert.Equal(expected, c);
        }
    }

    [Fact]
    public void ConcurrentCallersGetTheSameResults()
    {
        using var _ = KernelContext.Override(degreeOfParallelism: 2);
        int m = 130, n = 100, k = 90;
        var a = Random(m * k, 21); var b = Random(k * n, 22);
        var expected = new float[m * n];
        Sgemm.Multiply(false, false, m, n, k, 1f, a, k, b, n, 0f, expected, n);
        var results = new float[4][];
        var context = KernelContext.Current; // an override is per thread: hand it to the callers
        var callers = Enumerable.Range(0, 4).Select(t => new Thread(() =>
        {
            using var scope = KernelContext.Use(context);
            var c = new float[m * n];
            for (int r = 0; r < 20; r++) Sgemm.Multiply(false, false, m, n, k, 1f, a, k, b, n, 0f, c, n);
            results[t] = c;
        })).ToArray();
        foreach (var th in callers) th.Start();
        foreach (var th in callers) th.Join();
        Assert.All(results, r => Assert.Equal(expected, r));
    }

    [Fact]
    public void FmaPeakIsPositive()
    {
        double single = FmaPeak.Measure(1, 1);
        Assert.True(single > 0.1 && double.IsFinite(single), $"peak {single}");
        Assert.True(FmaPeak.Measure(2, 1) > 0.1);
    }

    [Fact]
    public void RejectsTooShortBuffers()
    {
        var x = new float[8];
        Assert.Throws<ArgumentException>(() => Sgemm.Multiply(false, false, 3, 3, 3, 1f, x, 3, new float[9], 3, 0f, new float[9], 3));
        Assert.Throws<ArgumentException>(() => Sgemm.Multiply(false, false, 3, 3, 3, 1f, new float[9], 2, new float[9], 3, 0f, new float[9], 3));
    }
}
