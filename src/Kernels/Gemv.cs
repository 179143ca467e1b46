using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace BitDistill.Kernels;

/// <summary>Float matrix–vector products y[n] = Σ_k W[n, k]·x[k] with W row-major [N, K], stored as float32, as IEEE half
/// (converted to float on the fly with exact integer bit manipulation, subnormals/Inf/NaN included; with an
/// <see cref="Fp16Outliers"/> table, with no test in the loop) or as bfloat16 (a shift): the full-precision baselines the
/// ternary kernels are measured against. SIMD per <see cref="KernelContext.Simd"/>, multithreaded over rows.</summary>
public static unsafe partial class Gemv
{
    /// <summary>y = W·x, W float32 [n, k].</summary>
    public static void MultiplyF32(ReadOnlySpan<float> w, int n, int k, ReadOnlySpan<float> x, Span<float> y)
    {
        Check(w.Length, n, k, x.Length, y.Length);
        fixed (float* pw = w) fixed (float* px = x) fixed (float* py = y)
        {
            var level = KernelContext.Current.Simd;
            if (StaticParallel.Threads(n, k) <= 1) RowsF32(level, pw, k, px, py, 0, n);
            else ParallelF32(level, pw, n, k, px, py);
        }
    }

    // Rows split as StaticParallel.For splits them, dispatched through a function pointer and a context on the stack: a
    // lambda over the pointers would allocate a closure and a delegate per call, and decoding calls this per projection.
    private static void ParallelF32(SimdLevel level, float* w, int n, int k, float* x, float* y)
    {
        var job = new Job { W = w, X = x, Y = y, N = n, K = k, Threads = StaticParallel.Threads(n, k), Level = level };
        ThreadTeam.Run(job.Threads, &ChunkF32, &job);
    }

    private struct Job
    {
        public void* W;
        public float* X, XPairs, Y;
        public int N, K, Threads;
        public SimdLevel Level; // the caller's, read once per call
        public OutlierTable Outliers;
    }

    private static void ChunkF32(int t, void* ctx)
    {
        ref var j = ref *(Job*)ctx;
        var (s, e) = StaticParallel.Chunk(j.N, j.Threads, t);
        RowsF32(j.Level, (float*)j.W, j.K, j.X, j.Y, s, e);
    }

    private static void ChunkF16(int t, void* ctx)
    {
        ref var j = ref *(Job*)ctx;
        var (s, e) = StaticParallel.Chunk(j.N, j.Threads, t);
        RowsF16(j.Level, (ushort*)j.W, j.K, j.X, j.Y, s, e);
    }

    /// <summary>y = W·x, W IEEE half [n, k] (each weight converted exactly to float).</summary>
    public static void MultiplyF16(ReadOnlySpan<Half> w, int n, int k, ReadOnlySpan<float> x, Span<float> y)
    {
        Check(w.Length, n, k, x.Length, y.Length);
        fixed (Half* pw = w) fixed (float* px = x) fixed (float* py = y)
        {
            var level = KernelContext.Current.Simd;
            if (StaticParallel.Threads(n, k) <= 1) RowsF16(level, (ushort*)pw, k, px, py, 0, n);
            else ParallelF16(level, (ushort*)pw, n, k, px, py);
        }
    }

    /// <summary>y = W·x, W IEEE half [n, k], with the outliers of W found beforehand (<see cref="Fp16Outliers.Find"/>): every half
    /// goes through the conversion of normal halves, with no test per vector, and the outliers' corrections are added after.</summary>
    public static void MultiplyF16(ReadOnlySpan<Half> w, int n, int k, ReadOnlySpan<float> x, Span<float> y, Fp16Outliers outliers)
    {
        ArgumentNullException.ThrowIfNull(outliers);
        Check(w.Length, n, k, x.Length, y.Length);
        outliers.CheckShape(n, k);
        var level = KernelContext.Current.Simd;
        var pairs = ArrayPool<float>.Shared.Rent(Math.Max(1, k));
        try
        {
            fixed (Half* pw = w) fixed (float* px = x) fixed (float* py = y) fixed (float* pp = pairs)
            fixed (int* start = outliers.RowStart) fixed (int* row = outliers.Row) fixed (int* col = outliers.Column) fixed (float* fix = outliers.Correction)
            {
                SplitPairs(level, px, pp, k);
                var o = new OutlierTable { Start = start, Row = row, Column = col, Correction = fix };
                if (StaticParallel.Threads(n, k) <= 1) RowsF16Normal(level, (ushort*)pw, k, px, pp, py, 0, n, o);
                else
                {
                    var job = new Job { W = pw, X = px, XPairs = pp, Y = py, N = n, K = k, Threads = StaticParallel.Threads(n, k), Level = level, Outliers = o };
                    ThreadTeam.Run(job.Threads, &ChunkF16Normal, &job);
                }
            }
        }
        finally { ArrayPool<float>.Shared.Return(pairs); }
    }

    /// <summary>y = W·x, W bfloat16 [n, k] (the upper 16 bits of a float32, as ushort): each weight widened exactly by a shift,
    /// in place in its 32-bit lane (even weights shifted up, odd ones masked), so the GEMV reads 2 bytes per weight at
    /// memory speed.</summary>
    public static void MultiplyBF16(ReadOnlySpan<ushort> w, int n, int k, ReadOnlySpan<float> x, Span<float> y)
    {
        Check(w.Length, n, k, x.Length, y.Length);
        var level = KernelContext.Current.Simd;
        var pairs = ArrayPool<float>.Shared.Rent(Math.Max(1, k));
        try
        {
            fixed (ushort* pw = w) fixed (float* px = x) fixed (float* py = y) fixed (float* pp = pairs)
            {
                SplitPairs(level, px, pp, k);
                if (StaticParallel.Threads(n, k) <= 1) RowsPaired<Bf16Pairs>(level, pw, k, px, pp, py, 0, n);
                else
                {
                    var job = new Job { W = pw, X = px, XPairs = pp, Y = py, N = n, K = k, Threads = StaticParallel.Threads(n, k), Level = level };
                    ThreadTeam.Run(job.Threads, &ChunkBF16, &job);
                }
            }
        }
        finally { ArrayPool<float>.Shared.Return(pairs); }
    }

    /// <summary>Scalar oracle of <see cref="MultiplyBF16"/>: each weight's bits shifted into a float32, double accumulation.</summary>
    public static void MultiplyBF16Reference(ReadOnlySpan<ushort> w, int n, int k, ReadOnlySpan<float> x, Span<float> y)
    {
        Check(w.Length, n, k, x.Length, y.Length);
        for (int r = 0; r < n; r++)
        {
            double s = 0;
            for (int c = 0; c < k; c++) s += (double)BitConverter.Int32BitsToSingle(w[r * k + c] << 16) * x[c];
            y[r] = (float)s;
        }
    }

    private static void ChunkBF16(int t, void* ctx)
    {
        ref var j = ref *(Job*)ctx;
        var (s, e) = StaticParallel.Chunk(j.N, j.Threads, t);
        RowsPaired<Bf16Pairs>(j.Level, (ushort*)j.W, j.K, j.X, j.XPairs, j.Y, s, e);
    }

    // Software prefetch distance of the FP16 and BF16 GEMVs' 256-bit weight stream, in 16-bit weights (4 KB; rows are contiguous, so it runs on into the
    // next row). The 512-bit path prefetched too until, on a Zen 4 (AVX-512 on 256-bit units), whole-runtime decodes without it
    // ran faster in interleaved runs: FP16, 1 thread 16.1 / 16.4 -> 20.2 / 20.4 tokens/s, 2 threads 25.6 / 27.5 -> 26.8 / 35.8
    // (BF16 mixed: 20.3 / 19.3 -> 23.6 / 19.8 and 34.0 / 27.0 -> 28.6 / 26.9); the numbers below are from an earlier machine. At the 0.6B layer shapes from memory, one thread: 20–26 GB/s without, 20–29 with it (read bandwidth 28–31).
    // The prefetch is non-temporal (prefetchnta): the weights are read once per token, and a plain prefetcht0 of the stream
    // probably evicted the activations (4–12 KB, split into even/odd) from L1; with it, in two interleaved runs: 1024×1024 27–29 → 37,
    // 1024×2048 24 → 29, 3072×1024 28–33 → 34–38 GB/s (1024×3072 unchanged within noise).
    private const int F16PrefetchHalves = 2048;

    // Halves per block of the pair-split layout at each level: one vector of halves (its 32-bit lanes hold two each).
    private static int PairBlock(SimdLevel level) => level switch
    {
        >= SimdLevel.Vector512 => 32,
        SimdLevel.Vector256 => 16,
        SimdLevel.Vector128 => 8,
        _ => 0,
    };

    // x in the order the GEMV's conversion yields weights: per block of B halves, the B/2 even-indexed then the B/2 odd-indexed
    // (a 32-bit lane holds an even half in its low 16 bits and the next, odd half in its high 16 bits); the tail stays in place.
    private static void SplitPairs(SimdLevel level, float* x, float* xp, int k)
    {
        int b = PairBlock(level), full = b == 0 ? 0 : k - k % b;
        for (int i = 0; i < full; i += b)
            for (int j = 0; j < b / 2; j++) { xp[i + j] = x[i + 2 * j]; xp[i + b / 2 + j] = x[i + 2 * j + 1]; }
        for (int i = full; i < k; i++) xp[i] = x[i];
    }

    private static void ChunkF16Normal(int t, void* ctx)
    {
        ref var j = ref *(Job*)ctx;
        var (s, e) = StaticParallel.Chunk(j.N, j.Threads, t);
        RowsF16Normal(j.Level, (ushort*)j.W, j.K, j.X, j.XPairs, j.Y, s, e, j.Outliers);
    }

    private struct OutlierTable
    {
        public int* Start, Row, Column;
        public float* Correction;
    }

    private static void ParallelF16(SimdLevel level, ushort* w, int n, int k, float* x, float* y)
    {
        var job = new Job { W = w, X = x, Y = y, N = n, K = k, Threads = StaticParallel.Threads(n, k), Level = level };
        ThreadTeam.Run(job.Threads, &ChunkF16, &job);
    }

    /// <summary>Scalar oracle of <see cref="MultiplyF32"/> (double accumulation).</summary>
    public static void MultiplyF32Reference(ReadOnlySpan<float> w, int n, int k, ReadOnlySpan<float> x, Span<float> y)
    {
        Check(w.Length, n, k, x.Length, y.Length);
        for (int r = 0; r < n; r++)
        {
            double s = 0;
            for (int c = 0; c < k; c++) s += (double)w[r * k + c] * x[c];
            y[r] = (float)s;
        }
    }

    /// <summary>Scalar oracle of <see cref="MultiplyF16(ReadOnlySpan{Half}, int, int, ReadOnlySpan{float}, Span{float})"/>: the CLR's exact Half → float cast, double accumulation.</summary>
    public static void MultiplyF16Reference(ReadOnlySpan<Half> w, int n, int k, ReadOnlySpan<float> x, Span<float> y)
    {
        Check(w.Length, n, k, x.Length, y.Length);
        for (int r = 0; r < n; r++)
        {
            double s = 0;
            for (int c = 0; c < k; c++) s += (double)(float)w[r * k + c] * x[c];
            y[r] = (float)s;
        }
    }

    private static void Check(int wLength, int n, int k, int xLength, int yLength)
    {
        TernaryQuantizer.CheckShape(wLength, n, k);
        TernaryQuantizer.CheckLength(xLength, k, "x");
        TernaryQuantizer.CheckLength(yLength, n, "y");
    }

    private static void RowsF32(SimdLevel level, float* w, int k, float* x, float* y, int r0, int r1)
    {
        for (int r = r0; r < r1; r++)
        {
            float* wr = w + (long)r * k;
            int i = 0;
            float s = 0;
            if (level >= SimdLevel.Vector512)
            {
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                for (; i <= k - 64; i += 64)
                {
                    a0 = Vector512.FusedMultiplyAdd(Vector512.Load(wr + i), Vector512.Load(x + i), a0);
                    a1 = Vector512.FusedMultiplyAdd(Vector512.Load(wr + i + 16), Vector512.Load(x + i + 16), a1);
                    a2 = Vector512.FusedMultiplyAdd(Vector512.Load(wr + i + 32), Vector512.Load(x + i + 32), a2);
                    a3 = Vector512.FusedMultiplyAdd(Vector512.Load(wr + i + 48), Vector512.Load(x + i + 48), a3);
                }
                for (; i <= k - 16; i += 16) a0 = Vector512.FusedMultiplyAdd(Vector512.Load(wr + i), Vector512.Load(x + i), a0);
                s = Vector512.Sum((a0 + a1) + (a2 + a3));
            }
            else if (level >= SimdLevel.Vector256)
            {
                Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
                for (; i <= k - 32; i += 32)
                {
                    a0 = Vector256.FusedMultiplyAdd(Vector256.Load(wr + i), Vector256.Load(x + i), a0);
                    a1 = Vector256.FusedMultiplyAdd(Vector256.Load(wr + i + 8), Vector256.Load(x + i + 8), a1);
                    a2 = Vector256.FusedMultiplyAdd(Vector256.Load(wr + i + 16), Vector256.Load(x + i + 16), a2);
                    a3 = Vector256.FusedMultiplyAdd(Vector256.Load(wr + i + 24), Vector256.Load(x + i + 24), a3);
                }
                for (; i <= k - 8; i += 8) a0 = Vector256.FusedMultiplyAdd(Vector256.Load(wr + i), Vector256.Load(x + i), a0);
                s = Vector256.Sum((a0 + a1) + (a2 + a3));
            }
            else if (level >= SimdLevel.Vector128)
            {
                Vector128<float> a0 = default, a1 = default;
                for (; i <= k - 8; i += 8)
                {
                    a0 += Vector128.Load(wr + i) * Vector128.Load(x + i);
                    a1 += Vector128.Load(wr + i + 4) * Vector128.Load(x + i + 4);
                }
                s = Vector128.Sum(a0 + a1);
            }
            for (; i < k; i++) s += wr[i] * x[i];
            y[r] = s;
        }
    }

    private static void RowsF16(SimdLevel level, ushort* w, int k, float* x, float* y, int r0, int r1)
    {
        for (int r = r0; r < r1; r++)
        {
            ushort* wr = w + (long)r * k;
            int i = 0;
            float s = 0;
            if (level >= SimdLevel.Vector512)
            {
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                for (; i <= k - 64; i += 64)
                {
                    var h0 = Vector512.Load(wr + i);
                    var h1 = Vector512.Load(wr + i + 32);
                    if (AllNormal(h0) && AllNormal(h1))
                    {
                        // the common case (trained weights are normal halves): 4 integer ops per 16 weights instead of 13
                        a0 = Vector512.FusedMultiplyAdd(NormalToSingle(Vector512.WidenLower(h0)), Vector512.Load(x + i), a0);
                        a1 = Vector512.FusedMultiplyAdd(NormalToSingle(Vector512.WidenUpper(h0)), Vector512.Load(x + i + 16), a1);
                        a2 = Vector512.FusedMultiplyAdd(NormalToSingle(Vector512.WidenLower(h1)), Vector512.Load(x + i + 32), a2);
                        a3 = Vector512.FusedMultiplyAdd(NormalToSingle(Vector512.WidenUpper(h1)), Vector512.Load(x + i + 48), a3);
                        continue;
                    }
                    a0 = Vector512.FusedMultiplyAdd(ToSingle(Vector512.WidenLower(h0)), Vector512.Load(x + i), a0);
                    a1 = Vector512.FusedMultiplyAdd(ToSingle(Vector512.WidenUpper(h0)), Vector512.Load(x + i + 16), a1);
                    a2 = Vector512.FusedMultiplyAdd(ToSingle(Vector512.WidenLower(h1)), Vector512.Load(x + i + 32), a2);
                    a3 = Vector512.FusedMultiplyAdd(ToSingle(Vector512.WidenUpper(h1)), Vector512.Load(x + i + 48), a3);
                }
                s = Vector512.Sum((a0 + a1) + (a2 + a3));
            }
            else if (level >= SimdLevel.Vector256)
            {
                Vector256<float> a0 = default, a1 = default;
                for (; i <= k - 16; i += 16)
                {
                    var h = Vector256.Load(wr + i);
                    if (AllNormal(h))
                    {
                        a0 = Vector256.FusedMultiplyAdd(NormalToSingle(Vector256.WidenLower(h)), Vector256.Load(x + i), a0);
                        a1 = Vector256.FusedMultiplyAdd(NormalToSingle(Vector256.WidenUpper(h)), Vector256.Load(x + i + 8), a1);
                        continue;
                    }
                    a0 = Vector256.FusedMultiplyAdd(ToSingle(Vector256.WidenLower(h)), Vector256.Load(x + i), a0);
                    a1 = Vector256.FusedMultiplyAdd(ToSingle(Vector256.WidenUpper(h)), Vector256.Load(x + i + 8), a1);
                }
                s = Vector256.Sum(a0 + a1);
            }
            else if (level >= SimdLevel.Vector128)
            {
                Vector128<float> a0 = default, a1 = default;
                for (; i <= k - 8; i += 8)
                {
                    var h = Vector128.Load(wr + i);
                    a0 += ToSingle(Vector128.WidenLower(h)) * Vector128.Load(x + i);
                    a1 += ToSingle(Vector128.WidenUpper(h)) * Vector128.Load(x + i + 4);
                }
                s = Vector128.Sum(a0 + a1);
            }
            for (; i < k; i++) s += (float)BitConverter.UInt16BitsToHalf(wr[i]) * x[i];
            y[r] = s;
        }
    }

    // Rows [r0, r1) converting every half as a normal one (no test per vector), then the outliers' corrections in one flat loop
    // over the range's entries (a loop per row would mispredict its exit once per row).
    private static void RowsF16Normal(SimdLevel level, ushort* w, int k, float* x, float* xp, float* y, int r0, int r1, OutlierTable o)
    {
        RowsPaired<Fp16NormalPairs>(level, w, k, x, xp, y, r0, r1);
        for (int e = o.Start[r0], end = o.Start[r1]; e < end; e++) y[o.Row[e]] += o.Correction[e] * x[o.Column[e]];
    }

    // Rows [r0, r1) of a 16-bit matrix, converted by TC. The weights are not widened: each 32-bit lane holds two, the odd one
    // already in the float's upper bits, so the activations come split into even and odd per block (xp, SplitPairs); for
    // FP16 that is 7 integer ops per two vectors of weights instead of 8 plus two widenings, for BF16 a shift and a mask.
    private static void RowsPaired<TC>(SimdLevel level, ushort* w, int k, float* x, float* xp, float* y, int r0, int r1)
        where TC : struct, IPairedConversion
    {
        int b = PairBlock(level), full = b == 0 ? 0 : k - k % b;
        if (level >= SimdLevel.Vector512 && Avx512F.IsSupported)
        {
            // each row's accumulators summed into one vector, and four rows reduced together (a transpose-add) instead of one
            // full horizontal sum at the end of each row, whose latency the next row could not hide: 3072 × 1024 from cache
            // 218 -> 159 us, from memory 13.7 -> 16.5 GB/s on one Zen 4 core; whole-runtime BF16 decode 11.1 / 17.3 -> 20.4 / 20.8
            // tokens/s at 1 thread, 18.8 / 27.0 -> 35.9 / 35.8 at 2 (interleaved). A row's sum does not depend on its neighbours
            // (every lane of Sum4 adds one vector's own elements), so a row gives the same bits in any group of rows.
            int r = r0;
            for (; r + 4 <= r1; r += 4)
            {
                var sums = HorizontalSum.Sum4(Row512<TC>(w + (long)r * k, xp, full), Row512<TC>(w + (long)(r + 1) * k, xp, full),
                    Row512<TC>(w + (long)(r + 2) * k, xp, full), Row512<TC>(w + (long)(r + 3) * k, xp, full));
                for (int t = 0; t < 4; t++) y[r + t] = Tail<TC>(w + (long)(r + t) * k, x, full, k, sums.GetElement(t));
            }
            for (; r < r1; r++)
            {
                var v = Row512<TC>(w + (long)r * k, xp, full);
                y[r] = Tail<TC>(w + (long)r * k, x, full, k, HorizontalSum.Sum4(v, v, v, v).ToScalar());
            }
            return;
        }
        for (int r = r0; r < r1; r++)
        {
            ushort* wr = w + (long)r * k;
            int i = 0;
            float s = 0;
            if (level >= SimdLevel.Vector256)
            {
                Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
                for (; i <= full - 32; i += 32)
                {
                    if (Sse.IsSupported) Sse.PrefetchNonTemporal(wr + i + F16PrefetchHalves);
                    var h0 = Vector256.Load((uint*)(wr + i));
                    var h1 = Vector256.Load((uint*)(wr + i + 16));
                    a0 = Vector256.FusedMultiplyAdd(TC.Even(h0), Vector256.Load(xp + i), a0);
                    a1 = Vector256.FusedMultiplyAdd(TC.Odd(h0), Vector256.Load(xp + i + 8), a1);
                    a2 = Vector256.FusedMultiplyAdd(TC.Even(h1), Vector256.Load(xp + i + 16), a2);
                    a3 = Vector256.FusedMultiplyAdd(TC.Odd(h1), Vector256.Load(xp + i + 24), a3);
                }
                if (i < full)
                {
                    var h0 = Vector256.Load((uint*)(wr + i));
                    a0 = Vector256.FusedMultiplyAdd(TC.Even(h0), Vector256.Load(xp + i), a0);
                    a1 = Vector256.FusedMultiplyAdd(TC.Odd(h0), Vector256.Load(xp + i + 8), a1);
                    i += 16;
                }
                s = Vector256.Sum((a0 + a1) + (a2 + a3));
            }
            else if (level >= SimdLevel.Vector128)
            {
                Vector128<float> a0 = default, a1 = default, a2 = default, a3 = default;
                for (; i <= full - 16; i += 16)
                {
                    var h0 = Vector128.Load((uint*)(wr + i));
                    var h1 = Vector128.Load((uint*)(wr + i + 8));
                    a0 += TC.Even(h0) * Vector128.Load(xp + i);
                    a1 += TC.Odd(h0) * Vector128.Load(xp + i + 4);
                    a2 += TC.Even(h1) * Vector128.Load(xp + i + 8);
                    a3 += TC.Odd(h1) * Vector128.Load(xp + i + 12);
                }
                if (i < full)
                {
                    var h0 = Vector128.Load((uint*)(wr + i));
                    a0 += TC.Even(h0) * Vector128.Load(xp + i);
                    a1 += TC.Odd(h0) * Vector128.Load(xp + i + 4);
                    i += 8;
                }
                s = Vector128.Sum((a0 + a1) + (a2 + a3));
            }
            for (; i < k; i++) s += TC.Scalar(wr[i]) * x[i]; // FP16: the fast conversion, so that every outlier is corrected once
            y[r] = s;
        }
    }

    // One row's products over its first `full` weights (blocks of 32), as one vector of partial sums.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Row512<TC>(ushort* wr, float* xp, int full) where TC : struct, IPairedConversion
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        int i = 0;
        for (; i <= full - 64; i += 64)
        {
            var h0 = Vector512.Load((uint*)(wr + i));
            var h1 = Vector512.Load((uint*)(wr + i + 32));
            a0 = Vector512.FusedMultiplyAdd(TC.Even(h0), Vector512.Load(xp + i), a0);
            a1 = Vector512.FusedMultiplyAdd(TC.Odd(h0), Vector512.Load(xp + i + 16), a1);
            a2 = Vector512.FusedMultiplyAdd(TC.Even(h1), Vector512.Load(xp + i + 32), a2);
            a3 = Vector512.FusedMultiplyAdd(TC.Odd(h1), Vector512.Load(xp + i + 48), a3);
        }
        if (i < full)
        {
            var h0 = Vector512.Load((uint*)(wr + i));
            a0 = Vector512.FusedMultiplyAdd(TC.Even(h0), Vector512.Load(xp + i), a0);
            a1 = Vector512.FusedMultiplyAdd(TC.Odd(h0), Vector512.Load(xp + i + 16), a1);
        }
        return (a0 + a1) + (a2 + a3);
    }

    // s plus the row's last k − full weights, one at a time (FP16: the fast conversion, so that every outlier is corrected once).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Tail<TC>(ushort* wr, float* x, int full, int k, float s) where TC : struct, IPairedConversion
    {
        for (int i = full; i < k; i++) s += TC.Scalar(wr[i]) * x[i];
        return s;
    }

    // How RowsPaired turns the 32-bit lanes of a 16-bit matrix into floats: its low (even) and high (odd) weight, and one weight.
    private interface IPairedConversion
    {
        static abstract Vector512<float> Even(Vector512<uint> v);
        static abstract Vector512<float> Odd(Vector512<uint> v);
        static abstract Vector256<float> Even(Vector256<uint> v);
        static abstract Vector256<float> Odd(Vector256<uint> v);
        static abstract Vector128<float> Even(Vector128<uint> v);
        static abstract Vector128<float> Odd(Vector128<uint> v);
        static abstract float Scalar(ushort h);
    }

    // FP16 by the normal-half conversion (NormalToSingle) on the low or the high half of each lane: the odd half already sits
    // in bits 16..31, and the mask clears the even half's bits that the shift moves below bit 13. Exact for normal halves.
    private struct Fp16NormalPairs : IPairedConversion
    {
        public static Vector512<float> Even(Vector512<uint> v) => NormalToSingle(v);
        public static Vector512<float> Odd(Vector512<uint> v) =>
            (((v.AsInt32() >> 3) & Vector512.Create(NormalMask)) + Vector512.Create((int)Rebias)).AsSingle();
        public static Vector256<float> Even(Vector256<uint> v) => NormalToSingle(v);
        public static Vector256<float> Odd(Vector256<uint> v) =>
            (((v.AsInt32() >> 3) & Vector256.Create(NormalMask)) + Vector256.Create((int)Rebias)).AsSingle();
        public static Vector128<float> Even(Vector128<uint> v) => NormalToSingle(v);
        public static Vector128<float> Odd(Vector128<uint> v) =>
            (((v.AsInt32() >> 3) & Vector128.Create(NormalMask)) + Vector128.Create((int)Rebias)).AsSingle();
        public static float Scalar(ushort h) => Fp16Outliers.FastValue(h);
    }

    // BF16: the even weight shifted up, the odd one masked in place. Exact for every value.
    private struct Bf16Pairs : IPairedConversion
    {
        public static Vector512<float> Even(Vector512<uint> v) => (v << 16).AsSingle();
        public static Vector512<float> Odd(Vector512<uint> v) => (v & Vector512.Create(0xFFFF_0000u)).AsSingle();
        public static Vector256<float> Even(Vector256<uint> v) => (v << 16).AsSingle();
        public static Vector256<float> Odd(Vector256<uint> v) => (v & Vector256.Create(0xFFFF_0000u)).AsSingle();
        public static Vector128<float> Even(Vector128<uint> v) => (v << 16).AsSingle();
        public static Vector128<float> Odd(Vector128<uint> v) => (v & Vector128.Create(0xFFFF_0000u)).AsSingle();
        public static float Scalar(ushort h) => BitConverter.Int32BitsToSingle(h << 16);
    }

    // Half bits h → float bits, all integer ops (no float multiply on possibly subnormal values, which is slow on some CPUs):
    // |h| = e (15 bits). Normal: (e << 13) + 112·2^23 (exponent rebias 15 → 127). Inf/NaN (e ≥ 0x7C00): rebias by 2·112 so the
    // exponent field becomes 255. Subnormal or zero (e < 0x400): the value e·2^-24 is (e << 13) + 113·2^23 read as a float, minus 2^-14.
    internal const uint Rebias = 112u << 23;

    // Fast path for normal halves only (0x0400 ≤ |h| < 0x7C00, checked per vector with one unsigned compare): h << 16 puts the
    // sign at bit 31 and exponent+mantissa at bits 16..30; an arithmetic shift right by 3 moves them to bits 13..27 (the float
    // mantissa's top and exponent's low 5 bits) while bits 28..30 copy the sign, which the mask clears; adding 112·2^23 rebiases the
    // exponent (15 → 127) without reaching bit 31. Exact, integer only; any zero, subnormal, Inf or NaN takes ToSingle.
    internal const int NormalMask = unchecked((int)0x8FFF_E000);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool AllNormal(Vector512<ushort> h) =>
        Vector512.LessThanAll((h & Vector512.Create((ushort)0x7FFF)) - Vector512.Create((ushort)0x0400), Vector512.Create((ushort)0x7800));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool AllNormal(Vector256<ushort> h) =>
        Vector256.LessThanAll((h & Vector256.Create((ushort)0x7FFF)) - Vector256.Create((ushort)0x0400), Vector256.Create((ushort)0x7800));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> NormalToSingle(Vector512<uint> h) =>
        ((((h << 16).AsInt32() >> 3) & Vector512.Create(NormalMask)) + Vector512.Create((int)Rebias)).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> NormalToSingle(Vector256<uint> h) =>
        ((((h << 16).AsInt32() >> 3) & Vector256.Create(NormalMask)) + Vector256.Create((int)Rebias)).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<float> NormalToSingle(Vector128<uint> h) =>
        ((((h << 16).AsInt32() >> 3) & Vector128.Create(NormalMask)) + Vector128.Create((int)Rebias)).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> ToSingle(Vector512<uint> h)
    {
        var e = h & Vector512.Create(0x7FFFu);
        var r = (e << 13) + Vector512.Create(Rebias);
        r += Vector512.GreaterThanOrEqual(e, Vector512.Create(0x7C00u)) & Vector512.Create(Rebias);
        var sub = (r + Vector512.Create(1u << 23)).AsSingle() - Vector512.Create(1f / 16384);
        var f = Vector512.ConditionalSelect(Vector512.LessThan(e, Vector512.Create(0x400u)).AsSingle(), sub, r.AsSingle());
        return (f.AsUInt32() | ((h << 16) & Vector512.Create(0x8000_0000u))).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> ToSingle(Vector256<uint> h)
    {
        var e = h & Vector256.Create(0x7FFFu);
        var r = (e << 13) + Vector256.Create(Rebias);
        r += Vector256.GreaterThanOrEqual(e, Vector256.Create(0x7C00u)) & Vector256.Create(Rebias);
        var sub = (r + Vector256.Create(1u << 23)).AsSingle() - Vector256.Create(1f / 16384);
        var f = Vector256.ConditionalSelect(Vector256.LessThan(e, Vector256.Create(0x400u)).AsSingle(), sub, r.AsSingle());
        return (f.AsUInt32() | ((h << 16) & Vector256.Create(0x8000_0000u))).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> ToSingle(Vector128<uint> h)
    {
        var e = h & Vector128.Create(0x7FFFu);
        var r = (e << 13) + Vector128.Create(Rebias);
        r += Vector128.GreaterThanOrEqual(e, Vector128.Create(0x7C00u)) & Vector128.Create(Rebias);
        var sub = (r + Vector128.Create(1u << 23)).AsSingle() - Vector128.Create(1f / 16384);
        var f = Vector128.ConditionalSelect(Vector128.LessThan(e, Vector128.Create(0x400u)).AsSingle(), sub, r.AsSingle());
        return (f.AsUInt32() | ((h << 16) & Vector128.Create(0x8000_0000u))).AsSingle();
    }
}
