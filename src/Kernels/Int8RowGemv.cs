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

    /// <summary>y = diag(scales)·Q·x with Q int8 [n, k]: each 8-bit weight widened exactly to float and fused-multiply-added with x
    /// (SIMD per <see cref="KernelContext.Simd"/>, rows split over the kernel thread team like <see cref="Gemv"/>), so the
    /// product runs at memory speed: one byte per weight read, no allocation.</summary>
    public static unsafe void Multiply(ReadOnlySpan<sbyte> q, ReadOnlySpan<float> scales, int n, int k, ReadOnlySpan<float> x, Span<float> y)
    {
        Check(q.Length, scales.Length, n, k, x.Length, y.Length);
        fixed (sbyte* pq = q) fixed (float* ps = scales) fixed (float* px = x) fixed (float* py = y)
        {
            var job = new Job { Q = pq, S = ps, X = px, Y = py, N = n, K = k, Threads = StaticParallel.Threads(n, k), Level = KernelContext.Current.Simd };
            if (job.Threads <= 1) Rows(ref job, 0, n);
            else ThreadTeam.Run(job.Threads, &Chunk, &job);
        }
    }

    private unsafe struct Job
    {
        public sbyte* Q;
        public float* S, X, Y;
        public int N, K, Threads;
        public SimdLevel Level;
    }

    private static unsafe void Chunk(int t, void* ctx)
    {
        ref var j = ref *(Job*)ctx;
        var (s, e) = StaticParallel.Chunk(j.N, j.Threads, t);
        Rows(ref j, s, e);
    }

    private static unsafe void Rows(ref Job j, int r0, int r1)
    {
        int k = j.K;
        float* x = j.X;
        for (int r = r0; r < r1; r++)
        {
            sbyte* w = j.Q + (long)r * k;
            int i = 0;
            float s = 0;
            if (j.Level >= SimdLevel.Vector512 && Avx512F.IsSupported)
            {
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                // vpmovsxbd straight from memory: 16 bytes → 16 int32 in one instruction, then convert and FMA
                for (; i <= k - 64; i += 64)
                {
                    a0 = Vector512.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(Vector128.Load(w + i))), Vector512.Load(x + i), a0);
                    a1 = Vector512.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(Vector128.Load(w + i + 16))), Vector512.Load(x + i + 16), a1);
                    a2 = Vector512.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(Vector128.Load(w + i + 32))), Vector512.Load(x + i + 32), a2);
                    a3 = Vector512.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(Vector128.Load(w + i + 48))), Vector512.Load(x + i + 48), a3);
                }
                s = Vector512.Sum((a0 + a1) + (a2 + a3));
            }
            else if (j.Level >= SimdLevel.Vector256 && Avx2.IsSupported)
            {
                Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
                for (; i <= k - 32; i += 32)
                {
                    a0 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(w + i)), Vector256.Load(x + i), a0);
                    a1 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(w + i + 8)), Vector256.Load(x + i + 8), a1);
                    a2 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(w + i + 16)), Vector256.Load(x + i + 16), a2);
                    a3 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(w + i + 24)), Vector256.Load(x + i + 24), a3);
                }
                s = Vector256.Sum((a0 + a1) + (a2 + a3));
            }
            else if (j.Level >= SimdLevel.Vector256)
            {
                Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
                for (; i <= k - 32; i += 32)
                {
                    var b = Vector256.Load(w + i);
                    var lo = Vector256.WidenLower(b); var hi = Vector256.WidenUpper(b);
                    a0 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(Vector256.WidenLower(lo)), Vector256.Load(x + i), a0);
                    a1 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(Vector256.WidenUpper(lo)), Vector256.Load(x + i + 8), a1);
                    a2 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(Vector256.WidenLower(hi)), Vector256.Load(x + i + 16), a2);
                    a3 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(Vector256.WidenUpper(hi)), Vector256.Load(x + i + 24), a3);
                }
                s = Vector256.Sum((a0 + a1) + (a2 + a3));
            }
            else if (j.Level >= SimdLevel.Vector128)
            {
                Vector128<float> a0 = default, a1 = default, a2 = default, a3 = default;
                for (; i <= k - 16; i += 16)
                {
                    var b = Vector128.Load(w + i);
                    var lo = Vector128.WidenLower(b); var hi = Vector128.WidenUpper(b);
                    a0 += Vector128.ConvertToSingle(Vector128.WidenLower(lo)) * Vector128.Load(x + i);
                    a1 += Vector128.ConvertToSingle(Vector128.WidenUpper(lo)) * Vector128.Load(x + i + 4);
                    a2 += Vector128.ConvertToSingle(Vector128.WidenLower(hi)) * Vector128.Load(x + i + 8);
                    a3 += Vector128.ConvertToSingle(Vector128.WidenUpper(hi)) * Vector128.Load(x + i + 12);
                }
                s = Vector128.Sum((a0 + a1) + (a2 + a3));
            }
            for (; i < k; i++) s += w[i] * x[i];
            j.Y[r] = s * j.S[r];
        }
    }

    /// <summary>Scalar oracle of <see cref="Multiply"/> (double accumulation).</summary>
    public static void MultiplyReference(ReadOnlySpan<sbyte> q, ReadOnlySpan<float> scales, int n, int k, ReadOnlySpan<float> x, Span<float> y)
    {
        Check(q.Length, scales.Length, n, k, x.Length, y.Length);
        for (int r = 0; r < n; r++)
        {
            double s = 0;
            for (int c = 0; c < k; c++) s += (double)q[r * k + c] * x[c];
            y[r] = (float)(s * scales[r]);
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
