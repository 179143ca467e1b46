using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace BitDistill.Kernels;

/// <summary>Matrix–vector products with an INT8 weight matrix and one float scale per row (the deployed lm_head or embedding
/// table at 8 bits): y[n] = scale[n] · Σ_k q[n, k]·x[k], with q = round(w / scale), scale = max|w_row| / 127 (symmetric absmax).</summary>
public static class Int8RowGemv
{
    /// <summary>Quantises a row-major [n, k] float matrix row by row into <paramref name="q"/> and <paramref name="scales"/> [n]
    /// (round half to even; an all-zero row gets scale 0 and codes 0). A non-finite weight throws, naming its (row, col).</summary>
    public static void Quantize(ReadOnlySpan<float> w, int n, int k, Span<sbyte> q, Span<float> scales)
    {
        TernaryQuantizer.CheckShape(w.Length, n, k);
        TernaryQuantizer.CheckLength(q.Length, w.Length, nameof(q));
        TernaryQuantizer.CheckLength(scales.Length, n, nameof(scales));
        for (int r = 0; r < n; r++)
        {
            var row = w.Slice(r * k, k);
            float max = 0;
            for (int c = 0; c < k; c++)
            {
                if (!float.IsFinite(row[c])) throw new ArgumentException($"w[{r}, {c}] = {row[c]} is not finite", nameof(w));
                max = Math.Max(max, Math.Abs(row[c]));
            }
            float scale = max / 127f;
            scales[r] = scale;
            for (int c = 0; c < k; c++)
                q[r * k + c] = scale == 0 ? (sbyte)0 : (sbyte)Math.Clamp(MathF.Round(row[c] / scale, MidpointRounding.ToEven), -127f, 127f);
        }
    }

    /// <summary>Largest |code| of the 16-bit activations: x16 = round(x / sx) with sx = max|x| / 32767.</summary>
    public const int ActivationMax = short.MaxValue;

    // Columns per int32 block: |Σ q·x16| over 512 columns ≤ 512·127·32767 = 2,130,706,432 < 2³¹, so every partial and
    // horizontal sum of a block is exact in 32 bits; blocks are summed in 64 bits.
    private const int Block = 512;
    private const int StackColumns = 16384;
    /// <summary>Rows that share each activation load (the 128-bit path).</summary>
    private const int RowTile = 4;
    // The 128-bit path's tile: four rows are four interleaved streams, which Zen 4's hardware prefetcher alone left at about half the streaming
    // bandwidth (18 of 35 GB/s for the 0.6B head); the tile's bytes are contiguous, so the kernel prefetches them as one
    // linear stream, a tile plus 4 KB ahead, non-temporal (the head is read once per token and should not evict the
    // activations): 34 → 39–43 GB/s in the same runs.
    private const int PrefetchAhead = 4096;
    /// <summary>y = diag(scales)·Q·x with Q int8 [n, k]: x is first rounded to 16-bit integers with one scale (sx = max|x| /
    /// 32767, relative error ≤ 1.5e-5 of max|x| per element, far below the INT8 weights' own), then each row is an exact integer
    /// dot product (8-bit weights widened to 16 bits and multiplied pairwise into 32-bit lanes, summed per 512 columns into
    /// 64 bits) and y[r] = (float)dot · sx · scale[r]. That is a third of the instructions of widening every weight to float,
    /// so one core streams the weights at close to memory speed. Rows are split over the kernel thread team like
    /// <see cref="Gemv"/>; results do not depend on the split or the SIMD level. A non-finite x makes every y NaN. No
    /// allocation for k ≤ 16384.</summary>
    public static unsafe void Multiply(ReadOnlySpan<sbyte> q, ReadOnlySpan<float> scales, int n, int k, ReadOnlySpan<float> x, Span<float> y)
    {
        Check(q.Length, scales.Length, n, k, x.Length, y.Length);
        Span<short> x16 = k <= StackColumns ? stackalloc short[k] : new short[k];
        float sx = QuantizeActivations(x, x16);
        if (!float.IsFinite(sx)) { y.Fill(float.NaN); return; }
        fixed (sbyte* pq = q) fixed (float* ps = scales) fixed (short* px = x16) fixed (float* py = y)
        {
            var job = new Job { Q = pq, S = ps, X = px, Sx = sx, Y = py, N = n, K = k, Threads = StaticParallel.Threads(n, k), Level = KernelContext.Current.Simd, Portable = KernelContext.Current.Portable128 };
            if (job.Threads <= 1) Rows(ref job, 0, n);
            else ThreadTeam.Run(job.Threads, &Chunk, &job);
        }
    }

    /// <summary>x16 = round-half-even(x · 32767 / max|x|), returning sx = max|x| / 32767 (0 for an all-zero x, then x16 = 0;
    /// NaN or ∞ when x holds a non-finite value, then x16 is unspecified).</summary>
    public static float QuantizeActivations(ReadOnlySpan<float> x, Span<short> x16)
    {
        TernaryQuantizer.CheckLength(x16.Length, x.Length, nameof(x16));
        if (x.IsEmpty) return 0;
        float max = TensorPrimitives.MaxMagnitude(x);
        max = Math.Abs(max);
        if (!float.IsFinite(max)) return float.NaN;
        if (max == 0) { x16.Clear(); return 0; }
        float inv = ActivationMax / max;
        for (int i = 0; i < x.Length; i++)
            x16[i] = (short)Math.Clamp(MathF.Round(x[i] * inv, MidpointRounding.ToEven), -ActivationMax, ActivationMax);
        return max / ActivationMax;
    }

    private unsafe struct Job
    {
        public sbyte* Q;
        public short* X;
        public float* S, Y;
        public float Sx;
        public int N, K, Threads;
        public SimdLevel Level;
        public bool Portable;
    }

    private static unsafe void Chunk(int t, void* ctx)
    {
        ref var j = ref *(Job*)ctx;
        var (s, e) = StaticParallel.Chunk(j.N, j.Threads, t);
        Rows(ref j, s, e);
    }

    private static unsafe void Rows(ref Job j, int r0, int r1)
    {
        if (j.Level >= SimdLevel.Vector512 && Avx512BW.IsSupported) Rows512(ref j, r0, r1);
        else if (j.Level >= SimdLevel.Vector256 && Avx2.IsSupported) Rows256(ref j, r0, r1);
        else if (j.Level >= SimdLevel.Vector128 && Sse41.IsSupported && !j.Portable) Rows128(ref j, r0, r1);
        else RowsPortable(ref j, r0, r1);
    }

    // Adds the block's column tail (scalar) to its exact int32 sums, then the block to the rows' 64-bit sums.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void EndBlock(Vector128<int> s, sbyte* w0, sbyte* w1, sbyte* w2, sbyte* w3, short* x, int i, int c1, ref Vector256<long> d)
    {
        if (i < c1)
        {
            int t0 = 0, t1 = 0, t2 = 0, t3 = 0;
            for (; i < c1; i++) { int xi = x[i]; t0 += w0[i] * xi; t1 += w1[i] * xi; t2 += w2[i] * xi; t3 += w3[i] * xi; }
            s += Vector128.Create(t0, t1, t2, t3);
        }
        d += Widen(s);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<long> Widen(Vector128<int> s) => Vector256.Create(Vector128.WidenLower(s), Vector128.WidenUpper(s));

    private static unsafe void Store(ref Job j, int r, int rows, Vector256<long> d)
    {
        for (int t = 0; t < rows; t++) j.Y[r + t] = (float)d.GetElement(t) * j.Sx * j.S[r + t];
    }

    // One row at a time, one linear stream for the hardware prefetcher, as at 256 bits. The 4-row tile that Rows128 still uses
    // (one activation load per 4 rows, the tile prefetched non-temporally as one stream 4 KB ahead) was measured faster at
    // 512 bits on an earlier machine, but on a Zen 4 (AVX-512 on 256-bit units) interleaved runs of the whole runtime decoded
    // i2 + INT8 at 1 thread 15-18 % faster with this loop (8 of 8 rounds: median 69 -> 79 and 64 -> 76 tokens/s; 2 threads
    // unchanged), and the same loop with a non-temporal prefetch 4 KB ahead gained nothing over it.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Rows512(ref Job j, int r0, int r1)
    {
        int k = j.K;
        short* x = j.X;
        for (int r = r0; r < r1; r++)
        {
            sbyte* w = j.Q + (long)r * k;
            long d = 0;
            for (int c0 = 0; c0 < k; c0 += Block)
            {
                int c1 = Math.Min(k, c0 + Block), i = c0;
                Vector512<int> a0 = default, a1 = default;
                // vpmovsxbw straight from memory (32 bytes -> 32 int16), then vpmaddwd: two products per int32 lane
                for (; i <= c1 - 64; i += 64)
                {
                    a0 += Avx512BW.MultiplyAddAdjacent(Avx512BW.ConvertToVector512Int16(Vector256.Load(w + i)), Vector512.Load(x + i));
                    a1 += Avx512BW.MultiplyAddAdjacent(Avx512BW.ConvertToVector512Int16(Vector256.Load(w + i + 32)), Vector512.Load(x + i + 32));
                }
                int t = Vector512.Sum(a0 + a1); // exact: a block's sum stays within 32 bits
                for (; i < c1; i++) t += w[i] * x[i];
                d += t;
            }
            j.Y[r] = (float)d * j.Sx * j.S[r];
        }
    }

    // One row at a time at 256 bits, one linear stream for the hardware prefetcher: the 4-row tile with the software-prefetched
    // stream that wins at 512 bits decoded 10–20 % slower here in interleaved runs (AVX2 forced on Zen 4).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Rows256(ref Job j, int r0, int r1)
    {
        int k = j.K;
        short* x = j.X;
        for (int r = r0; r < r1; r++)
        {
            sbyte* w = j.Q + (long)r * k;
            long d = 0;
            for (int c0 = 0; c0 < k; c0 += Block)
            {
                int c1 = Math.Min(k, c0 + Block), i = c0;
                Vector256<int> a0 = default, a1 = default;
                for (; i <= c1 - 32; i += 32)
                {
                    a0 += Avx2.MultiplyAddAdjacent(Avx2.ConvertToVector256Int16(w + i), Vector256.Load(x + i));
                    a1 += Avx2.MultiplyAddAdjacent(Avx2.ConvertToVector256Int16(w + i + 16), Vector256.Load(x + i + 16));
                }
                int t = Vector256.Sum(a0 + a1); // exact: a block's sum stays within 32 bits
                for (; i < c1; i++) t += w[i] * x[i];
                d += t;
            }
            j.Y[r] = (float)d * j.Sx * j.S[r];
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Rows128(ref Job j, int r0, int r1)
    {
        int k = j.K;
        short* x = j.X;
        for (int r = r0; r < r1; r += RowTile)
        {
            // a short last tile repeats its last row (read, not stored)
            int rows = Math.Min(RowTile, r1 - r);
            sbyte* w0 = j.Q + (long)r * k;
            sbyte* w1 = rows > 1 ? w0 + k : w0, w2 = rows > 2 ? w0 + 2L * k : w1, w3 = rows > 3 ? w0 + 3L * k : w2;
            sbyte* pf = w0 + (long)RowTile * k + PrefetchAhead;
            Vector256<long> d = default;
            for (int c0 = 0; c0 < k; c0 += Block)
            {
                int c1 = Math.Min(k, c0 + Block), i = c0;
                Vector128<int> a0 = default, a1 = default, a2 = default, a3 = default;
                for (; i <= c1 - 8; i += 8)
                {
                    if ((i & 15) == 0) Sse.PrefetchNonTemporal(pf + 4 * i);
                    var xv = Vector128.Load(x + i);
                    a0 += Sse2.MultiplyAddAdjacent(Sse41.ConvertToVector128Int16(w0 + i), xv);
                    a1 += Sse2.MultiplyAddAdjacent(Sse41.ConvertToVector128Int16(w1 + i), xv);
                    a2 += Sse2.MultiplyAddAdjacent(Sse41.ConvertToVector128Int16(w2 + i), xv);
                    a3 += Sse2.MultiplyAddAdjacent(Sse41.ConvertToVector128Int16(w3 + i), xv);
                }
                EndBlock(Reduce(a0, a1, a2, a3), w0, w1, w2, w3, x, i, c1, ref d);
            }
            Store(ref j, r, rows, d);
        }
    }

    // portable (ARM, or x86 without SSE4.1): widen both to int32 and multiply-add; no software prefetch
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void RowsPortable(ref Job j, int r0, int r1)
    {
        int k = j.K;
        short* x = j.X;
        bool simd = j.Level >= SimdLevel.Vector128;
        for (int r = r0; r < r1; r += RowTile)
        {
            int rows = Math.Min(RowTile, r1 - r);
            sbyte* w0 = j.Q + (long)r * k;
            sbyte* w1 = rows > 1 ? w0 + k : w0, w2 = rows > 2 ? w0 + 2L * k : w1, w3 = rows > 3 ? w0 + 3L * k : w2;
            Vector256<long> d = default;
            for (int c0 = 0; c0 < k; c0 += Block)
            {
                int c1 = Math.Min(k, c0 + Block), i = c0;
                Vector128<int> a0 = default, a1 = default, a2 = default, a3 = default;
                for (; simd && i <= c1 - 8; i += 8)
                {
                    var xv = Vector128.Load(x + i);
                    var xl = Vector128.WidenLower(xv); var xh = Vector128.WidenUpper(xv);
                    a0 += Dot8(w0 + i, xl, xh); a1 += Dot8(w1 + i, xl, xh); a2 += Dot8(w2 + i, xl, xh); a3 += Dot8(w3 + i, xl, xh);
                }
                EndBlock(Reduce(a0, a1, a2, a3), w0, w1, w2, w3, x, i, c1, ref d);
            }
            Store(ref j, r, rows, d);
        }
    }

    // 8 int8 weights widened to int32 against the activations' two int32 halves
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe Vector128<int> Dot8(sbyte* w, Vector128<int> xl, Vector128<int> xh)
    {
        var b = Vector128.WidenLower(Vector128.Create(Vector64.Load(w), Vector64<sbyte>.Zero));
        return Vector128.WidenLower(b) * xl + Vector128.WidenUpper(b) * xh;
    }

    // the four vectors' horizontal sums as one vector (exact: within a block no partial sum leaves 32 bits)
    private static Vector128<int> Reduce(Vector128<int> a, Vector128<int> b, Vector128<int> c, Vector128<int> d) =>
        Vector128.Create(Vector128.Sum(a), Vector128.Sum(b), Vector128.Sum(c), Vector128.Sum(d));

    /// <summary>Scalar oracle of <see cref="Multiply"/>: the same 16-bit activations, the dot product in 64-bit integers, the
    /// same float epilogue (so the result is bit-equal at every SIMD level).</summary>
    public static void MultiplyReference(ReadOnlySpan<sbyte> q, ReadOnlySpan<float> scales, int n, int k, ReadOnlySpan<float> x, Span<float> y)
    {
        Check(q.Length, scales.Length, n, k, x.Length, y.Length);
        var x16 = new short[k];
        float sx = QuantizeActivations(x, x16);
        for (int r = 0; r < n; r++)
        {
            long s = 0;
            for (int c = 0; c < k; c++) s += q[r * k + c] * x16[c];
            y[r] = float.IsFinite(sx) ? (float)s * sx * scales[r] : float.NaN;
        }
    }

    private static void Check(int qLength, int scaleLength, int n, int k, int xLength, int yLength)
    {
        TernaryQuantizer.CheckShape(qLength, n, k);
        TernaryQuantizer.CheckLength(scaleLength, n, "scales");
        TernaryQuantizer.CheckLength(xLength, k, "x");
        TernaryQuantizer.CheckLength(yLength, n, "y");
    }
}
