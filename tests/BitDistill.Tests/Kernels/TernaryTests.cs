using BitDistill.Kernels;

namespace BitDistill.Tests.Kernels;

/// <summary>Ternary quantisers (PyTorch half-to-even semantics), 2-bit / base-3 packing round trips, and the ternary × INT8 kernels:
/// bit-exact int32 against the scalar reference on every SIMD path and thread count, float output against the fake-quantised product.</summary>
public class TernaryTests
{
    /// <summary>Kernel variants: each SIMD level this CPU runs, with and without GFNI decode, and the portable Vector128 path.</summary>
    public static TheoryData<SimdLevel, string> Paths()
    {
        var d = new TheoryData<SimdLevel, string>();
        foreach (var l in Enum.GetValues<SimdLevel>())
        {
            if (l > KernelContext.HardwareSimd) continue;
            d.Add(l, "default");
            if (l == SimdLevel.Vector256 && KernelContext.Default.TernaryAvxVnni) d.Add(l, "no-vnni"); // plain AVX2 where VNNI is the default
            if (l == SimdLevel.Vector128) d.Add(l, "portable128");
        }
        return d;
    }

    /// <summary>Every SIMD level this CPU can run.</summary>
    public static TheoryData<SimdLevel> Levels()
    {
        var d = new TheoryData<SimdLevel>();
        foreach (var l in Enum.GetValues<SimdLevel>()) if (l <= KernelContext.HardwareSimd) d.Add(l);
        return d;
    }

    private sealed class PathScope(SimdLevel level, string variant, int dop) : IDisposable
    {
        private readonly KernelContext.Scope _scope = KernelContext.Use(KernelContext.Current with
        {
            Simd = level,
            DegreeOfParallelism = dop,
            TernaryAvxVnni = KernelContext.Current.TernaryAvxVnni && variant != "no-vnni",
            Portable128 = KernelContext.Current.Portable128 || variant == "portable128",
        });

        public void Dispose() => _scope.Dispose();
    }

    private static float[] RandomFloats(int n, int seed, float scale = 1f)
    {
        var rng = new Random(seed);
        var r = new float[n];
        for (int i = 0; i < n; i++) r[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return r;
    }

    private static sbyte[] RandomTernary(int n, int seed)
    {
        var rng = new Random(seed);
        var r = new sbyte[n];
        for (int i = 0; i < n; i++) r[i] = (sbyte)rng.Next(-1, 2);
        return r;
    }

    private static sbyte[] RandomInt8(int n, int seed)
    {
        var rng = new Random(seed);
        var r = new sbyte[n];
        for (int i = 0; i < n; i++) r[i] = (sbyte)rng.Next(-128, 128);
        return r;
    }

    // ---------------------------------------------------------------- weight quantiser

    [Theory, MemberData(nameof(Levels))]
    public void WeightQuantizerRoundsHalfToEvenAndClamps(SimdLevel level)
    {
        using var _ = KernelContext.Override(level);
        // mean|W| = 1 exactly, so W/s is W: 0.5 → 0, 1.5 → 2 → 1, −0.5 → 0, −1.5 → −1, 2.5 → 2 → 1, −0.49 → 0, 0.51 → 1.
        float[] pattern = [0.5f, 1.5f, -0.5f, -1.5f, 2.5f, -0.49f, 0.51f, 0f, -1f, 1.5f];
        sbyte[] expected = [0, 1, 0, -1, 1, 0, 1, 0, -1, 1];
        Assert.Equal(10.0, pattern.Sum(Math.Abs), 6);
        var w = Enumerable.Range(0, 13).SelectMany(_ => pattern).ToArray(); // 130 values: SIMD body + scalar tail
        var q = new sbyte[w.Length];
        float s = TernaryQuantizer.QuantizePerTensor(w, q);
        Assert.Equal(1f, s);
        for (int i = 0; i < w.Length; i++) Assert.Equal(expected[i % 10], q[i]);
        var fake = new float[w.Length];
        Assert.Equal(1f, TernaryQuantizer.FakeQuantizePerTensor(w, fake));
        for (int i = 0; i < w.Length; i++) Assert.Equal(expected[i % 10] * 1f, fake[i]);
    }

    [Fact]
    public void WeightQuantizerZerosEqualAndTinyValues()
    {
        var q = new sbyte[70];
        Assert.Equal(TernaryQuantizer.Epsilon, TernaryQuantizer.QuantizePerTensor(new float[70], q));
        Assert.All(q, v => Assert.Equal(0, v));

        var equal = Enumerable.Repeat(-0.3f, 70).ToArray();
        Assert.Equal(0.3f, TernaryQuantizer.QuantizePerTensor(equal, q), 6);
        Assert.All(q, v => Assert.Equal(-1, v));

        // mean|W| = 4e-6 < eps: scale is clamped to 1e-5, so W/s = 0.4 → 0 and 6e-6 / 1e-5 = 0.6 → 1.
        var tiny = Enumerable.Range(0, 70).Select(i => i % 2 == 0 ? 2e-6f : -6e-6f).ToArray();
        Assert.Equal(TernaryQuantizer.Epsilon, TernaryQuantizer.QuantizePerTensor(tiny, q));
        for (int i = 0; i < 70; i++) Assert.Equal(i % 2 == 0 ? 0 : -1, q[i]);
    }

    [Fact]
    public void WeightQuantizerRejectsNaNNamingPosition()
    {
        var w = RandomFloats(6 * 9, 1);
        w[3 * 9 + 5] = float.NaN;
        var q = new sbyte[w.Length];
        Assert.Contains("[32]", Assert.Throws<ArgumentException>(() => TernaryQuantizer.QuantizePerTensor(w, q)).Message);
        Assert.Contains("[3, 5]", Assert.Throws<ArgumentException>(() => TernaryQuantizer.QuantizePerRow(w, 6, 9, q, new float[6])).Message);
        Assert.Contains("[3, 5]", Assert.Throws<ArgumentException>(() => TernaryQuantizer.QuantizePerGroup(w, 6, 9, 4, q, new float[18])).Message);
        Assert.Contains("[3, 5]", Assert.Throws<ArgumentException>(() => PackedTernaryMatrix.Pack(w, 6, 9, TernaryScaleMode.PerRow)).Message);
        w[3 * 9 + 5] = float.PositiveInfinity;
        Assert.Throws<ArgumentException>(() => TernaryQuantizer.QuantizePerTensor(w, q));
    }

    [Theory, MemberData(nameof(Levels))]
    public void WeightQuantizerPerRowAndPerGroupMatchPerTensorOnSlices(SimdLevel level)
    {
        using var _ = KernelContext.Override(level);
        int n = 5, k = 203, g = 64, groups = 4;
        var w = RandomFloats(n * k, 2, 0.05f);
        var q = new sbyte[n * k]; var scales = new float[n * groups];
        TernaryQuantizer.QuantizePerGroup(w, n, k, g, q, scales);
        var rowQ = new sbyte[n * k]; var rowScales = new float[n];
        TernaryQuantizer.QuantizePerRow(w, n, k, rowQ, rowScales);
        for (int r = 0; r < n; r++)
        {
            var expect = new sbyte[k];
            Assert.Equal(TernaryQuantizer.QuantizePerTensor(w.AsSpan(r * k, k), expect), rowScales[r]);
            Assert.Equal(expect, rowQ.AsSpan(r * k, k).ToArray());
            for (int j = 0; j < groups; j++)
            {
                int c0 = j * g, len = Math.Min(g, k - c0);
                var src = w.AsSpan(r * k + c0, len);
                double mean = 0;
                foreach (var v in src) mean += Math.Abs(v);
                float s = Math.Max((float)(mean / len), 1e-5f);
                Assert.Equal(s, scales[r * groups + j]);
                var refQ = new sbyte[len];
                TernaryQuantizer.RoundReference(src, 1f / s, refQ);
                Assert.Equal(refQ, q.AsSpan(r * k + c0, len).ToArray());
            }
        }
    }

    // ---------------------------------------------------------------- activation quantiser

    [Theory, MemberData(nameof(Levels))]
    public void ActivationQuantizerMatchesReferenceAndTies(SimdLevel level)
    {
        using var _ = KernelContext.Override(level);
        foreach (int k in new[] { 1, 3, 17, 33, 127, 129, 1000 })
        {
            int m = 3;
            var x = RandomFloats(m * k, k, 3f);
            x[0] = 0; // a zero, and a whole zero row below
            for (int c = 0; c < k; c++) x[2 * k + c] = 0;
            var q = new sbyte[m * k]; var s = new float[m]; var sums = new int[m];
            var rq = new sbyte[m * k]; var rs = new float[m]; var rsums = new int[m];
            ActivationQuantizer.QuantizePerToken(x, m, k, q, s, sums);
            ActivationQuantizer.QuantizePerTokenReference(x, m, k, rq, rs, rsums);
            Assert.Equal(rq, q); Assert.Equal(rs, s); Assert.Equal(rsums, sums);
            Assert.Equal(127f / 1e-5f, s[2]);
            for (int r = 0; r < m; r++) Assert.Equal(q.Skip(r * k).Take(k).Sum(v => v), sums[r]);
        }
        // max|x| = 127 → scale 1: ties round to even, the max maps to ±127.
        float[] t = [127f, 0.5f, 1.5f, -0.5f, -2.5f, 3.5f, -127f, 0.49f];
        var tq = new sbyte[t.Length]; var ts = new float[1]; var tsum = new int[1];
        ActivationQuantizer.QuantizePerToken(t, 1, t.Length, tq, ts, tsum);
        Assert.Equal(1f, ts[0]);
        Assert.Equal(new sbyte[] { 127, 0, 2, 0, -2, 4, -127, 0 }, tq);
        Assert.Equal(4, tsum[0]);
        // tiny rows: eps clamp makes the scale 127/1e-5, so 5e-6 → 63.5 → 64 (even) and 1e-7 → 1.27 → 1.
        float[] tiny = [5e-6f, 1e-7f, -3e-6f];
        ActivationQuantizer.QuantizePerToken(tiny, 1, 3, tq.AsSpan(0, 3), ts, tsum);
        Assert.Equal(127f / 1e-5f, ts[0]);
        Assert.Equal(new sbyte[] { 64, 1, -38 }, tq.AsSpan(0, 3).ToArray());
    }

    [Theory, MemberData(nameof(Levels))]
    public void ActivationQuantizerRejectsNonFiniteNamingPosition(SimdLevel level)
    {
        using var _ = KernelContext.Override(level);
        var x = RandomFloats(2 * 100, 3);
        x[100 + 77] = float.NaN;
        var ex = Assert.Throws<ArgumentException>(() => ActivationQuantizer.QuantizePerToken(x, 2, 100, new sbyte[200], new float[2], new int[2]));
        Assert.Contains("[1, 77]", ex.Message);
        x[100 + 77] = float.NegativeInfinity;
        Assert.Throws<ArgumentException>(() => ActivationQuantizer.QuantizePerToken(x, 2, 100, new sbyte[200], new float[2], new int[2]));
    }

    // ---------------------------------------------------------------- packing

    [Fact]
    public void PackingBitLayoutIsDocumented()
    {
        var q = new sbyte[2 * 130]; // K = 130: two blocks per row, the second padded
        q[0] = 1; q[32] = -1; q[64] = 1; q[96] = 0; q[128] = -1; q[130 + 33] = 1;
        var m = PackedTernaryMatrix.FromCodes(q, 2, 130, TernaryScaleMode.PerTensor, [0.5f]);
        Assert.Equal(256, m.PaddedCols); Assert.Equal(64, m.RowBytes); Assert.Equal(128, m.Data.Length);
        // byte 0: w0 (code 2) bits 0–1, w32 (code 0) bits 2–3, w64 (code 2) bits 4–5, w96 (code 1) bits 6–7.
        Assert.Equal(2 | 0 << 2 | 2 << 4 | 1 << 6, m.Data[0]);
        Assert.Equal(0 | 1 << 2 | 1 << 4 | 1 << 6, m.Data[32]);   // w128 = −1, the rest padding (code 1)
        Assert.Equal(0x55, m.Data[33]);
        Assert.Equal(1 | 2 << 2 | 1 << 4 | 1 << 6, m.Data[64 + 1]); // row 1, w33 = 1 → byte 1, bits 2–3
        Assert.Equal(-1, m.Get(0, 128)); Assert.Equal(1, m.Get(1, 33));
        Assert.Equal(0, m.ByteCount % 32);
    }

    [Fact]
    public void PackingRoundTripsOnOddShapes()
    {
        foreach (var (n, k) in new[] { (1, 1), (3, 3), (5, 17), (7, 127), (2, 129), (3, 1000) })
        {
            var q = RandomTernary(n * k, n * 1000 + k);
            var m = PackedTernaryMatrix.FromCodes(q, n, k, TernaryScaleMode.PerTensor, [2f]);
            var back = new sbyte[n * k];
            m.UnpackCodes(back);
            Assert.Equal(q, back);
            var copy = PackedTernaryMatrix.FromPacked(m.Data, n, k, m.ScaleMode, m.Scales);
            copy.UnpackCodes(back);
            Assert.Equal(q, back);

            var w = RandomFloats(n * k, k, 0.1f);
            var perTensor = PackedTernaryMatrix.Pack(w, n, k, TernaryScaleMode.PerTensor);
            var fake = new float[w.Length];
            TernaryQuantizer.FakeQuantizePerTensor(w, fake);
            Assert.Equal(fake, perTensor.Unpack());

            var perRow = PackedTernaryMatrix.Pack(w, n, k, TernaryScaleMode.PerRow);
            Assert.Equal(TernaryScaleMode.PerRow, perRow.ScaleMode);
            var rq = new sbyte[n * k]; var rs = new float[n];
            TernaryQuantizer.QuantizePerRow(w, n, k, rq, rs);
            Assert.Equal(rs, perRow.Scales.ToArray());
            var deq = perRow.Unpack();
            for (int i = 0; i < deq.Length; i++) Assert.Equal(rq[i] * rs[i / k], deq[i]);
        }
        Assert.Throws<ArgumentException>(() => PackedTernaryMatrix.FromCodes(new sbyte[] { 2 }, 1, 1, TernaryScaleMode.PerTensor, [1f]));
        Assert.Throws<ArgumentException>(() => PackedTernaryMatrix.FromCodes(new sbyte[4], 2, 2, TernaryScaleMode.PerRow, [1f, 1f, 1f]));
    }

    [Fact]
    public void Base3RoundTripsAndRejectsBadBytes()
    {
        for (int len = 0; len <= 23; len++)
        {
            var q = RandomTernary(len, len);
            var packed = new byte[TernaryBase3.PackedLength(len)];
            TernaryBase3.Pack(q, packed);
            Assert.All(packed, b => Assert.True(b < 243));
            var back = new sbyte[len];
            TernaryBase3.Unpack(packed, back);
            Assert.Equal(q, back);
        }
        // every valid byte decodes and re-encodes to itself; 5 trits, first value least significant
        for (int b = 0; b < 243; b++)
        {
            var q = new sbyte[5];
            TernaryBase3.Unpack([(byte)b], q);
            var again = new byte[1];
            TernaryBase3.Pack(q, again);
            Assert.Equal(b, again[0]);
            Assert.Equal(b % 3 - 1, q[0]);
        }
        var big = RandomTernary(10_007, 9);
        var bp = new byte[TernaryBase3.PackedLength(big.Length)];
        TernaryBase3.Pack(big, bp);
        Assert.Equal(2002, bp.Length);
        var bb = new sbyte[big.Length];
        TernaryBase3.Unpack(bp, bb);
        Assert.Equal(big, bb);
        Assert.Throws<ArgumentException>(() => TernaryBase3.Unpack([243], new sbyte[5]));
    }

    // ---------------------------------------------------------------- GEMM

    private static readonly (int M, int N, int K)[] Shapes =
        [(1, 7, 1), (1, 5, 3), (3, 9, 17), (5, 7, 33), (1, 11, 127), (4, 3, 129), (6, 13, 1000), (9, 65, 1000), (1, 129, 4100)];

    [Theory, MemberData(nameof(Paths))]
    public void GemmInt32BitExactWithReference(SimdLevel level, string variant)
    {
        foreach (int dop in new[] { 1, 2 })
        {
            using var _ = new PathScope(level, variant, dop);
            foreach (var (m, n, k) in Shapes)
            {
                var w = PackedTernaryMatrix.FromCodes(RandomTernary(n * k, n + k), n, k, TernaryScaleMode.PerTensor, [1f]);
                var x = RandomInt8(m * k, m + k);
                var expected = new int[m * n]; var actual = new int[m * n];
                TernaryGemm.MultiplyInt32Reference(x, m, w, expected);
                TernaryGemm.MultiplyInt32(x, m, w, actual);
                Assert.True(expected.SequenceEqual(actual), $"{level}/{variant} dop {dop} shape m={m} n={n} k={k}");
            }
        }
    }

    [Theory, MemberData(nameof(Paths))]
    public void GemmInt32ExtremesDoNotSaturate(SimdLevel level, string variant)
    {
        // 8192 = 64 blocks: every int16 partial sum reaches exactly its flush bound (−32768) with x = −128 and q = +1;
        // each token alone (m = 1) runs the decode GEMVs, whose accumulators differ from the tiles'.
        using var _ = new PathScope(level, variant, 1);
        int k = 8192, n = 3, tokens = 5;
        var q = new sbyte[n * k];
        for (int i = 0; i < k; i++) { q[i] = 1; q[k + i] = -1; q[2 * k + i] = (sbyte)(i % 2 == 0 ? 1 : -1); }
        var w = PackedTernaryMatrix.FromCodes(q, n, k, TernaryScaleMode.PerTensor, [1f]);
        var x = new sbyte[tokens * k];
        for (int i = 0; i < k; i++) { x[i] = -128; x[k + i] = 127; x[2 * k + i] = (sbyte)(i % 2 == 0 ? -128 : 127); x[3 * k + i] = -128; x[4 * k + i] = 127; }
        var expected = new int[tokens * n]; var actual = new int[tokens * n];
        TernaryGemm.MultiplyInt32Reference(x, tokens, w, expected);
        TernaryGemm.MultiplyInt32(x, tokens, w, actual);
        Assert.Equal(-128 * k, expected[0]);
        Assert.Equal(expected, actual);
        for (int t = 0; t < tokens; t++)
        {
            var one = new int[n];
            TernaryGemm.MultiplyInt32(x.AsSpan(t * k, k), 1, w, one);
            Assert.Equal(expected.AsSpan(t * n, n).ToArray(), one);
        }
    }

    [Theory, MemberData(nameof(Paths))]
    public void GemmFloatMatchesReferenceAndFakeQuantisedProduct(SimdLevel level, string variant)
    {
        // one token (decode: the 512-bit path's own GEMV with a vector epilogue) and several; 67 rows end in a short tile, and
        // 300 columns pad to an odd number of 128-weight blocks
        foreach (int dop in new[] { 1, 2 })
            foreach (var mode in new[] { TernaryScaleMode.PerTensor, TernaryScaleMode.PerRow })
                foreach (var (m, k) in new[] { (5, 1000), (1, 1000), (1, 300) })
            {
                using var _ = new PathScope(level, variant, dop);
                int n = 67;
                var wf = RandomFloats(n * k, 11, 0.02f);
                var w = PackedTernaryMatrix.Pack(wf, n, k, mode);
                var x = RandomFloats(m * k, 12, 4f);

                var y = new float[m * n];
                TernaryLinear.Forward(x, m, w, y);

                // the same through the public pieces, and the scalar reference with the same epilogue: bit-identical
                var xq = new sbyte[m * k]; var xs = new float[m]; var sums = new int[m];
                ActivationQuantizer.QuantizePerTokenReference(x, m, k, xq, xs, sums);
                var y2 = new float[m * n]; var yr = new float[m * n];
                TernaryGemm.Multiply(xq, xs, m, w, y2);
                TernaryGemm.MultiplyReference(xq, xs, m, w, yr);
                Assert.Equal(yr, y2);
                Assert.Equal(yr, y);

                // fake-quantised product in double: dequant(x) · dequant(W)ᵀ
                var wd = w.Unpack();
                for (int t = 0; t < m; t++)
                    for (int r = 0; r < n; r++)
                    {
                        double s = 0, mag = 0;
                        for (int c = 0; c < k; c++)
                        {
                            double p = (double)(xq[t * k + c] / xs[t]) * wd[r * k + c];
                            s += p; mag += Math.Abs(p);
                        }
                        Assert.True(Math.Abs(y[t * n + r] - s) <= 1e-6 * mag + 1e-30, $"({t}, {r}): {y[t * n + r]} vs {s}");
                    }
            }
    }

    [Theory, MemberData(nameof(Paths))]
    public void SharedProductsEqualSeparateProductsBitForBit(SimdLevel level, string variant)
    {
        // q/k/v-like: three matrices of one width and odd row counts (short last tiles), one dispatch over all their rows;
        // 70 tokens take the SGEMM path, which runs them one by one
        foreach (int dop in new[] { 1, 2 })
            foreach (int m in new[] { 1, 3, 70 })
                foreach (bool three in new[] { true, false })
                {
                    using var _ = new PathScope(level, variant, dop);
                    int k = 300;
                    int[] rows = [67, 13, 5];
                    var ws = rows.Select((n, i) => PackedTernaryMatrix.Pack(RandomFloats(n * k, 20 + i, 0.02f), n, k, i == 1 ? TernaryScaleMode.PerRow : TernaryScaleMode.PerTensor)).ToArray();
                    var xq = RandomInt8(m * k, 7 + m);
                    var xs = RandomFloats(m, 8).Select(v => Math.Abs(v) + 0.5f).ToArray();
                    var expected = rows.Select(n => new float[m * n]).ToArray();
                    var actual = rows.Select(n => new float[m * n]).ToArray();
                    for (int i = 0; i < 3; i++) TernaryGemm.Multiply(xq, xs, m, ws[i], expected[i]);
                    TernaryGemm.MultiplyShared(xq, xs, m, ws[0], actual[0], ws[1], actual[1], three ? ws[2] : null, three ? actual[2] : default);
                    for (int i = 0; i < (three ? 3 : 2); i++) Assert.True(expected[i].SequenceEqual(actual[i]), $"{level}/{variant} dop {dop} m {m} product {i}");
                    Assert.All(actual[0], v => Assert.True(float.IsFinite(v)));
                    Assert.Contains(actual[0], v => v != 0);
                }
    }

    [Fact]
    public void SharedProductsRefuseDifferentWidthsNamingTheShapes()
    {
        var a = PackedTernaryMatrix.Pack(RandomFloats(8 * 16, 1), 8, 16, TernaryScaleMode.PerTensor);
        var b = PackedTernaryMatrix.Pack(RandomFloats(8 * 24, 2), 8, 24, TernaryScaleMode.PerTensor);
        var e = Assert.Throws<ArgumentException>(() => TernaryGemm.MultiplyShared(new sbyte[16], [1f], 1, a, new float[8], b, new float[8], null, default));
        Assert.Contains("[8, 16], [8, 24]", e.Message);
    }

    [Theory, MemberData(nameof(Levels))]
    public void GemmOfManyRowsThroughSgemmIsBitIdenticalToTheInt8Kernels(SimdLevel level)
    {
        foreach (var mode in new[] { TernaryScaleMode.PerTensor, TernaryScaleMode.PerRow })
            foreach (int minRows in new[] { 1, 64 })
            {
                int m = 71, n = 37, k = 1001;
                var w = PackedTernaryMatrix.Pack(RandomFloats(n * k, 21, 0.02f), n, k, mode);
                var xq = new sbyte[m * k]; var xs = new float[m];
                var r = new Random(22);
                for (int i = 0; i < xq.Length; i++) xq[i] = (sbyte)r.Next(-128, 128);
                xq.AsSpan(0, k).Fill(-128); xq.AsSpan(k, k).Fill(127); // extreme rows: the largest partial sums
                for (int t = 0; t < m; t++) xs[t] = (float)(r.NextDouble() * 50 + 0.01);
                var y = new float[m * n]; var yr = new float[m * n];
                using (KernelContext.Use(KernelContext.Current with { Simd = level, TernarySgemmMinRows = minRows }))
                    TernaryGemm.Multiply(xq, xs, m, w, y);
                TernaryGemm.MultiplyReference(xq, xs, m, w, yr);
                Assert.Equal(yr, y);
            }
    }

    [Fact]
    public unsafe void PermuteActivations512_PairsPlanesOfTwoBlocksAndKeepsAnOddLastBlock()
    {
        // 3 blocks: block pair (0, 1) is permuted plane by plane, block 2 (odd tail) stays in natural order
        int kp = 3 * PackedTernaryMatrix.BlockSize;
        var x = new sbyte[kp]; var xp = new sbyte[kp];
        for (int i = 0; i < kp; i++) x[i] = (sbyte)(i * 7 % 251 - 125);
        fixed (sbyte* px = x) fixed (sbyte* pp = xp) TernaryGemm.PermuteActivations512(px, pp, kp);
        for (int plane = 0; plane < 4; plane++)
            for (int j = 0; j < 32; j++)
            {
                Assert.Equal(x[32 * plane + j], xp[64 * plane + j]);             // block 0, weights 32·plane + j
                Assert.Equal(x[128 + 32 * plane + j], xp[64 * plane + 32 + j]);  // block 1
            }
        Assert.Equal(x.AsSpan(256).ToArray(), xp.AsSpan(256).ToArray());
    }

    [Theory, MemberData(nameof(Levels))]
    public void GemmInt32EveryTokenAndRowTileRemainder(SimdLevel level)
    {
        // M = 1 … 9 covers token tiles of 1, 2, 3 and 4 plus remainders; N = 1 … 9 the short last row tile on each thread;
        // K spans an odd block count (tail block), an even one, and more than one int16 flush interval (> 16 block pairs).
        foreach (int dop in new[] { 1, 2 })
        {
            using var _ = KernelContext.Override(level, dop);
            foreach (int k in new[] { 300, 512, 4352 })
                for (int m = 1; m <= 9; m += 1)
                    foreach (int n in new[] { 1, 6, 9 })
                    {
                        var w = PackedTernaryMatrix.FromCodes(RandomTernary(n * k, n * k + m), n, k, TernaryScaleMode.PerRow, new float[n]);
                        var x = RandomInt8(m * k, m + k);
                        var expected = new int[m * n]; var actual = new int[m * n];
                        TernaryGemm.MultiplyInt32Reference(x, m, w, expected);
                        TernaryGemm.MultiplyInt32(x, m, w, actual);
                        Assert.True(expected.SequenceEqual(actual), $"{level} dop {dop} m={m} n={n} k={k}");
                    }
        }
    }

    [Fact]
    public void GemmRejectsBadLengths()
    {
        var w = PackedTernaryMatrix.FromCodes(new sbyte[6], 2, 3, TernaryScaleMode.PerTensor, [1f]);
        Assert.Throws<ArgumentException>(() => TernaryGemm.MultiplyInt32(new sbyte[5], 2, w, new int[4]));
        Assert.Throws<ArgumentException>(() => TernaryGemm.MultiplyInt32(new sbyte[6], 2, w, new int[3]));
        Assert.Throws<ArgumentException>(() => TernaryGemm.Multiply(new sbyte[6], new float[1], 2, w, new float[4]));
    }

    // ---------------------------------------------------------------- float baselines

    [Theory, MemberData(nameof(Levels))]
    public void GemvF32AndF16MatchReferences(SimdLevel level)
    {
        foreach (int dop in new[] { 1, 2 })
        {
            using var _ = KernelContext.Override(level, dop);
            foreach (var (n, k) in new[] { (1, 1), (3, 17), (7, 33), (5, 127), (9, 129), (33, 1000), (65, 1030) })
            {
                var w = RandomFloats(n * k, n + k);
                var x = RandomFloats(k, k);
                var y = new float[n]; var yr = new float[n];
                Gemv.MultiplyF32(w, n, k, x, y);
                Gemv.MultiplyF32Reference(w, n, k, x, yr);
                for (int i = 0; i < n; i++) Assert.True(Math.Abs(y[i] - yr[i]) <= 1e-5 * k, $"f32 {n}x{k} row {i}: {y[i]} vs {yr[i]}");

                // halves include subnormals, zeros of both signs and normals across the range
                var h = new Half[n * k];
                var rng = new Random(n * k);
                for (int i = 0; i < h.Length; i++)
                    h[i] = (i % 4) switch
                    {
                        0 => BitConverter.UInt16BitsToHalf((ushort)rng.Next(0, 0x400)),            // +subnormal / zero
                        1 => BitConverter.UInt16BitsToHalf((ushort)(0x8000 | rng.Next(0, 0x400))), // −subnormal / zero
                        _ => (Half)((rng.NextDouble() * 2 - 1) * Math.Pow(2, rng.Next(-14, 10))),
                    };
                Gemv.MultiplyF16(h, n, k, x, y);
                Gemv.MultiplyF16Reference(h, n, k, x, yr);
                double mag = 0;
                for (int i = 0; i < h.Length; i++) mag = Math.Max(mag, Math.Abs((float)h[i]));
                for (int i = 0; i < n; i++) Assert.True(Math.Abs(y[i] - yr[i]) <= 1e-6 * k * mag, $"f16 {n}x{k} row {i}: {y[i]} vs {yr[i]}");
            }
        }
    }

    [Theory, MemberData(nameof(Levels))]
    public void GemvF16ConvertsEveryBitPatternExactly(SimdLevel level)
    {
        using var _ = KernelContext.Override(level, 1);
        // row r holds bit pattern r at column r % 64 and zeros elsewhere; x = ones, so y[r] is exactly that weight as float
        int n = 65536, k = 64;
        var h = new Half[n * k];
        for (int r = 0; r < n; r++) h[r * k + r % k] = BitConverter.UInt16BitsToHalf((ushort)r);
        var x = Enumerable.Repeat(1f, k).ToArray();
        var y = new float[n];
        Gemv.MultiplyF16(h, n, k, x, y);
        for (int r = 0; r < n; r++)
        {
            float e = (float)BitConverter.UInt16BitsToHalf((ushort)r);
            if (float.IsNaN(e)) Assert.True(float.IsNaN(y[r]), $"pattern {r:X4}");
            else Assert.True(e == y[r], $"pattern {r:X4}: {y[r]} vs {e}");
        }
    }
}
