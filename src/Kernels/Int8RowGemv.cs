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

    // Columns per int32 accumulation block: a lane of any path below then sums at most 256 products of |127·32767|, about
    // 1.07e9 < 2³¹; blocks are summed in 64 bits.
    private const int Block = 2048;
    private const int StackColumns = 16384;

    /// <summary>y = diag(scales)·Q·x with Q int8 [n, k]: x is first rounded to 16-bit integers with one scale (sx = max|x| /
    /// 32767, relative error ≤ 1.5e-5 of max|x| per element, far below the INT8 weights' own), then each row is an exact integer
    /// dot product (8-bit weights widened to 16 bits and multiplied pairwise into 32-bit lanes, summed per 4096 columns into
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

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Rows(ref Job j, int r0, int r1)
    {
        int k = j.K;
        for (int r = r0; r < r1; r++)
        {
            sbyte* w = j.Q + (long)r * k;
            long dot = 0;
            for (int c0 = 0; c0 < k; c0 += Block)
                dot += BlockDot(j.Level, j.Portable, w + c0, j.X + c0, Math.Min(Block, k - c0));
            j.Y[r] = (float)dot * j.Sx * j.S[r];
        }
    }

    // Σ w[i]·x[i] over at most Block columns, exactly.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe long BlockDot(SimdLevel level, bool portable, sbyte* w, short* x, int len)
    {
        int i = 0;
        long s = 0;
        if (level >= SimdLevel.Vector512 && Avx512BW.IsSupported)
        {
            Vector512<int> a0 = default, a1 = default;
            // vpmovsxbw straight from memory (32 bytes → 32 int16), then vpmaddwd: two products per int32 lane
            for (; i <= len - 64; i += 64)
            {
                a0 += Avx512BW.MultiplyAddAdjacent(Avx512BW.ConvertToVector512Int16(Vector256.Load(w + i)), Vector512.Load(x + i));
                a1 += Avx512BW.MultiplyAddAdjacent(Avx512BW.ConvertToVector512Int16(Vector256.Load(w + i + 32)), Vector512.Load(x + i + 32));
            }
            s = Sum(a0) + Sum(a1);
        }
        else if (level >= SimdLevel.Vector256 && Avx2.IsSupported)
        {
            Vector256<int> a0 = default, a1 = default;
            for (; i <= len - 32; i += 32)
            {
                a0 += Avx2.MultiplyAddAdjacent(Avx2.ConvertToVector256Int16(w + i), Vector256.Load(x + i));
                a1 += Avx2.MultiplyAddAdjacent(Avx2.ConvertToVector256Int16(w + i + 16), Vector256.Load(x + i + 16));
            }
            s = Sum(a0) + Sum(a1);
        }
        else if (level >= SimdLevel.Vector128 && Sse41.IsSupported && !portable)
        {
            Vector128<int> a0 = default, a1 = default;
            for (; i <= len - 16; i += 16)
            {
                a0 += Sse2.MultiplyAddAdjacent(Sse41.ConvertToVector128Int16(w + i), Vector128.Load(x + i));
                a1 += Sse2.MultiplyAddAdjacent(Sse41.ConvertToVector128Int16(w + i + 8), Vector128.Load(x + i + 8));
            }
            s = Sum(a0) + Sum(a1);
        }
        else if (level >= SimdLevel.Vector128)
        {
            // portable (ARM, or x86 without SSE4.1): widen both to int32 and multiply-add
            Vector128<int> a0 = default, a1 = default;
            for (; i <= len - 16; i += 16)
            {
                var b = Vector128.Load(w + i);
                var lo = Vector128.WidenLower(b); var hi = Vector128.WidenUpper(b);
                var x0 = Vector128.Load(x + i); var x1 = Vector128.Load(x + i + 8);
                a0 += Vector128.WidenLower(lo) * Vector128.WidenLower(x0) + Vector128.WidenUpper(lo) * Vector128.WidenUpper(x0);
                a1 += Vector128.WidenLower(hi) * Vector128.WidenLower(x1) + Vector128.WidenUpper(hi) * Vector128.WidenUpper(x1);
            }
            s = Sum(a0) + Sum(a1);
        }
        for (; i < len; i++) s += w[i] * x[i];
        return s;
    }

    private static long Sum(Vector512<int> v) => Vector512.Sum(Vector512.WidenLower(v) + Vector512.WidenUpper(v));
    private static long Sum(Vector256<int> v) => Vector256.Sum(Vector256.WidenLower(v) + Vector256.WidenUpper(v));
    private static long Sum(Vector128<int> v) => Vector128.Sum(Vector128.WidenLower(v) + Vector128.WidenUpper(v));

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
