using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace BitDistill.Kernels;

/// <summary>Per-token absmax INT8 activation quantiser (official BitDistill code: <c>s = 127 / clamp(max|x|, 1e-5);
/// xq = clamp(round(x·s), −128, 127)</c>, round half to even): each row of k values gets its own scale, and the dequantised
/// activation is xq / scale. Also returns each row's Σ xq, which the ternary kernels' offset trick needs.
/// A NaN or infinite activation is rejected with an <see cref="ArgumentException"/> naming its (row, col).</summary>
public static class ActivationQuantizer
{
    /// <summary>Quantises the row-major [m, k] activations <paramref name="x"/> into <paramref name="q"/> ([m, k]), one scale and one Σq per row.</summary>
    public static void QuantizePerToken(ReadOnlySpan<float> x, int m, int k, Span<sbyte> q, Span<float> scales, Span<int> rowSums)
    {
        TernaryQuantizer.CheckShape(x.Length, m, k);
        TernaryQuantizer.CheckLength(q.Length, x.Length, nameof(q));
        TernaryQuantizer.CheckLength(scales.Length, m, nameof(scales));
        TernaryQuantizer.CheckLength(rowSums.Length, m, nameof(rowSums));
        var level = KernelContext.Current.Simd;
        for (int r = 0; r < m; r++)
        {
            var row = x.Slice(r * k, k);
            float scale = 127f / Math.Max(AbsMax(row, r, level), TernaryQuantizer.Epsilon);
            scales[r] = scale;
            rowSums[r] = Quantize(row, scale, q.Slice(r * k, k), level);
        }
    }

    /// <summary>Scalar oracle of <see cref="QuantizePerToken"/>.</summary>
    public static void QuantizePerTokenReference(ReadOnlySpan<float> x, int m, int k, Span<sbyte> q, Span<float> scales, Span<int> rowSums)
    {
        TernaryQuantizer.CheckShape(x.Length, m, k);
        for (int r = 0; r < m; r++)
        {
            float max = 0;
            for (int c = 0; c < k; c++)
            {
                float v = x[r * k + c];
                if (!float.IsFinite(v)) throw NonFinite(v, r, c);
                max = Math.Max(max, Math.Abs(v));
            }
            float scale = 127f / Math.Max(max, TernaryQuantizer.Epsilon);
            scales[r] = scale;
            int sum = 0;
            for (int c = 0; c < k; c++) sum += q[r * k + c] = QuantizeOne(x[r * k + c], scale);
            rowSums[r] = sum;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static sbyte QuantizeOne(float x, float scale) => (sbyte)Math.Clamp(MathF.Round(x * scale, MidpointRounding.ToEven), -128f, 127f);

    /// <summary>max|x| over a row; non-finite values are found with an (x &lt; ∞) test folded into the same pass.</summary>
    private static float AbsMax(ReadOnlySpan<float> x, int row, SimdLevel level)
    {
        int n = x.Length, i = 0;
        ref float src = ref MemoryMarshal.GetReference(x);
        float max = 0;
        bool bad = false;
        if (level >= SimdLevel.Vector512 && n >= 16)
        {
            var m0 = Vector512<float>.Zero; var ok = Vector512<float>.AllBitsSet.AsInt32();
            for (; i <= n - 16; i += 16)
            {
                var a = Vector512.Abs(Vector512.LoadUnsafe(ref src, (nuint)i));
                ok &= Vector512.LessThan(a, Vector512.Create(float.PositiveInfinity)).AsInt32(); // false for NaN and ±Inf
                m0 = Vector512.MaxNative(m0, a);
            }
            bad = ok != Vector512<int>.AllBitsSet;
            max = HMax(Vector256.MaxNative(m0.GetLower(), m0.GetUpper()));
        }
        else if (level >= SimdLevel.Vector256 && n >= 8)
        {
            var m0 = Vector256<float>.Zero; var ok = Vector256<float>.AllBitsSet.AsInt32();
            for (; i <= n - 8; i += 8)
            {
                var a = Vector256.Abs(Vector256.LoadUnsafe(ref src, (nuint)i));
                ok &= Vector256.LessThan(a, Vector256.Create(float.PositiveInfinity)).AsInt32();
                m0 = Vector256.MaxNative(m0, a);
            }
            bad = ok != Vector256<int>.AllBitsSet;
            max = HMax(m0);
        }
        else if (level >= SimdLevel.Vector128 && n >= 4)
        {
            var m0 = Vector128<float>.Zero; var ok = Vector128<float>.AllBitsSet.AsInt32();
            for (; i <= n - 4; i += 4)
            {
                var a = Vector128.Abs(Vector128.LoadUnsafe(ref src, (nuint)i));
                ok &= Vector128.LessThan(a, Vector128.Create(float.PositiveInfinity)).AsInt32();
                m0 = Vector128.MaxNative(m0, a);
            }
            bad = ok != Vector128<int>.AllBitsSet;
            max = HMax(m0);
        }
        for (; i < n; i++)
        {
            float a = Math.Abs(Unsafe.Add(ref src, i));
            if (!(a < float.PositiveInfinity)) bad = true;
            max = Math.Max(max, a);
        }
        if (bad)
            for (int c = 0; c < n; c++)
                if (!float.IsFinite(x[c])) throw NonFinite(x[c], row, c);
        return max;
    }

    private static float HMax(Vector256<float> v) => HMax(Vector128.MaxNative(v.GetLower(), v.GetUpper()));

    private static float HMax(Vector128<float> v)
    {
        float a = Math.Max(v[0], v[1]), b = Math.Max(v[2], v[3]);
        return Math.Max(a, b);
    }

    /// <summary>q = clamp(round_half_even(x·scale), −128, 127); returns Σ q (exact int32).</summary>
    private static int Quantize(ReadOnlySpan<float> x, float scale, Span<sbyte> q, SimdLevel level)
    {
        int n = x.Length, i = 0, sum = 0;
        ref float src = ref MemoryMarshal.GetReference(x);
        ref sbyte dst = ref MemoryMarshal.GetReference(q);
        if (level >= SimdLevel.Vector512)
        {
            var vs = Vector512.Create(scale); var acc = Vector512<int>.Zero;
            for (; i <= n - 64; i += 64)
            {
                var a = Q(Vector512.LoadUnsafe(ref src, (nuint)i) * vs);
                var b = Q(Vector512.LoadUnsafe(ref src, (nuint)(i + 16)) * vs);
                var c = Q(Vector512.LoadUnsafe(ref src, (nuint)(i + 32)) * vs);
                var d = Q(Vector512.LoadUnsafe(ref src, (nuint)(i + 48)) * vs);
                acc += (a + b) + (c + d);
                Vector512.Narrow(Vector512.Narrow(a, b), Vector512.Narrow(c, d)).StoreUnsafe(ref dst, (nuint)i);
            }
            sum += Vector512.Sum(acc);
        }
        if (level >= SimdLevel.Vector256)
        {
            var vs = Vector256.Create(scale); var acc = Vector256<int>.Zero;
            for (; i <= n - 32; i += 32)
            {
                var a = Q(Vector256.LoadUnsafe(ref src, (nuint)i) * vs);
                var b = Q(Vector256.LoadUnsafe(ref src, (nuint)(i + 8)) * vs);
                var c = Q(Vector256.LoadUnsafe(ref src, (nuint)(i + 16)) * vs);
                var d = Q(Vector256.LoadUnsafe(ref src, (nuint)(i + 24)) * vs);
                acc += (a + b) + (c + d);
                Vector256.Narrow(Vector256.Narrow(a, b), Vector256.Narrow(c, d)).StoreUnsafe(ref dst, (nuint)i);
            }
            sum += Vector256.Sum(acc);
        }
        if (level >= SimdLevel.Vector128)
        {
            var vs = Vector128.Create(scale); var acc = Vector128<int>.Zero;
            for (; i <= n - 16; i += 16)
            {
                var a = Q(Vector128.LoadUnsafe(ref src, (nuint)i) * vs);
                var b = Q(Vector128.LoadUnsafe(ref src, (nuint)(i + 4)) * vs);
                var c = Q(Vector128.LoadUnsafe(ref src, (nuint)(i + 8)) * vs);
                var d = Q(Vector128.LoadUnsafe(ref src, (nuint)(i + 12)) * vs);
                acc += (a + b) + (c + d);
                Vector128.Narrow(Vector128.Narrow(a, b), Vector128.Narrow(c, d)).StoreUnsafe(ref dst, (nuint)i);
            }
            sum += Vector128.Sum(acc);
        }
        for (; i < n; i++) sum += Unsafe.Add(ref dst, i) = QuantizeOne(Unsafe.Add(ref src, i), scale);
        return sum;
    }

    private static Vector512<int> Q(Vector512<float> v) =>
        Vector512.ConvertToInt32(Vector512.MinNative(Vector512.MaxNative(Vector512.Round(v), Vector512.Create(-128f)), Vector512.Create(127f)));

    private static Vector256<int> Q(Vector256<float> v) =>
        Vector256.ConvertToInt32(Vector256.MinNative(Vector256.MaxNative(Vector256.Round(v), Vector256.Create(-128f)), Vector256.Create(127f)));

    private static Vector128<int> Q(Vector128<float> v) =>
        Vector128.ConvertToInt32(Vector128.MinNative(Vector128.MaxNative(Vector128.Round(v), Vector128.Create(-128f)), Vector128.Create(127f)));

    private static ArgumentException NonFinite(float v, int row, int col) =>
        new($"Activation [{row}, {col}] is {v}; INT8 quantisation needs finite activations.", "x");
}
