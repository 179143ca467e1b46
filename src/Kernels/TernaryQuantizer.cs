using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace BitDistill.Kernels;

/// <summary>BitNet b1.58 absmean ternary weight quantiser, with the semantics of the official BitDistill code
/// (<c>s = 1 / clamp(mean|W|, 1e-5); Wq = clamp(round(W·s), −1, 1) / s</c>): the scale is <c>mean|W|</c> (summed in double,
/// sequentially, so it is deterministic), clamped to ≥ 1e-5 and rounded to float; q = clamp(round_half_even(W · (1/scale)), −1, 1)
/// where 1/scale is the float reciprocal, as the official code multiplies by it; the dequantised weight is q·scale.
/// Rounding is half-to-even like PyTorch's <c>round</c>: W/s = 0.5 → 0, 1.5 → 2 → 1 (clamp), −0.5 → 0, 2.5 → 2 → 1.
/// A NaN or infinite weight is rejected with an <see cref="ArgumentException"/> naming its position.</summary>
public static class TernaryQuantizer
{
    /// <summary>The lower clamp of a scale (both for weights' mean|W| and activations' max|x|).</summary>
    public const float Epsilon = 1e-5f;

    /// <summary>mean|w| clamped to ≥ <see cref="Epsilon"/>; throws on a non-finite value (position in row-major (row, col) of a <paramref name="cols"/>-wide matrix).</summary>
    public static float AbsMeanScale(ReadOnlySpan<float> w, int cols = 0, int rowOffset = 0, int colOffset = 0)
    {
        if (w.Length == 0) return Epsilon;
        double s = 0;
        for (int i = 0; i < w.Length; i++)
        {
            float v = w[i];
            if (!float.IsFinite(v)) throw NonFinite(v, i, cols, rowOffset, colOffset);
            s += Math.Abs(v);
        }
        return Math.Max((float)(s / w.Length), Epsilon);
    }

    /// <summary>Per-tensor quantisation of all of <paramref name="w"/> into codes q ∈ {−1, 0, 1}; returns the scale (q·scale is the dequantised weight).</summary>
    public static float QuantizePerTensor(ReadOnlySpan<float> w, Span<sbyte> q)
    {
        CheckLength(q.Length, w.Length, nameof(q));
        float scale = AbsMeanScale(w);
        Round(w, 1f / scale, q, KernelContext.Current.Simd);
        return scale;
    }

    /// <summary>Per-output-channel quantisation of a row-major [n, k] matrix: one scale per row.</summary>
    public static void QuantizePerRow(ReadOnlySpan<float> w, int n, int k, Span<sbyte> q, Span<float> scales)
        => QuantizePerGroup(w, n, k, k, q, scales);

    /// <summary>Per-group quantisation of a row-major [n, k] matrix: each row is cut into groups of <paramref name="groupSize"/>
    /// consecutive weights (the last one may be shorter), each with its own scale; <paramref name="scales"/> is [n, ceil(k / groupSize)].</summary>
    public static void QuantizePerGroup(ReadOnlySpan<float> w, int n, int k, int groupSize, Span<sbyte> q, Span<float> scales)
    {
        CheckShape(w.Length, n, k);
        if (groupSize < 1) throw new ArgumentOutOfRangeException(nameof(groupSize), groupSize, "Group size must be at least 1.");
        CheckLength(q.Length, w.Length, nameof(q));
        int groups = GroupCount(k, groupSize);
        CheckLength(scales.Length, n * groups, nameof(scales));
        var level = KernelContext.Current.Simd;
        for (int r = 0; r < n; r++)
            for (int g = 0; g < groups; g++)
            {
                int c0 = g * groupSize, len = Math.Min(groupSize, k - c0);
                var src = w.Slice(r * k + c0, len);
                float scale = AbsMeanScale(src, cols: -1, r, c0);
                scales[r * groups + g] = scale;
                Round(src, 1f / scale, q.Slice(r * k + c0, len), level);
            }
    }

    /// <summary>Number of groups per row for a row of <paramref name="k"/> weights.</summary>
    public static int GroupCount(int k, int groupSize) => k == 0 ? 0 : (k + groupSize - 1) / groupSize;

    /// <summary>Per-tensor fake quantisation (what a BitLinear trains with): <paramref name="dst"/> = q·scale; returns the scale.</summary>
    public static float FakeQuantizePerTensor(ReadOnlySpan<float> w, Span<float> dst)
    {
        CheckLength(dst.Length, w.Length, nameof(dst));
        float scale = AbsMeanScale(w), inv = 1f / scale;
        for (int i = 0; i < w.Length; i++) dst[i] = RoundOne(w[i], inv) * scale;
        return scale;
    }

    /// <summary>Scalar oracle: q[i] = clamp(round_half_even(w[i]·inverseScale), −1, 1).</summary>
    public static void RoundReference(ReadOnlySpan<float> w, float inverseScale, Span<sbyte> q)
    {
        CheckLength(q.Length, w.Length, nameof(q));
        for (int i = 0; i < w.Length; i++) q[i] = RoundOne(w[i], inverseScale);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static sbyte RoundOne(float w, float inv) => (sbyte)Math.Clamp(MathF.Round(w * inv, MidpointRounding.ToEven), -1f, 1f);

    /// <summary>One weight's ternary code: clamp(round_half_even(w · inverseScale), −1, 1) (the one rounding rule of every
    /// absmean-based quantiser here: BitLinear, GPTQ, AWQ).</summary>
    public static sbyte Ternarize(float w, float inverseScale) => RoundOne(w, inverseScale);

    /// <summary>Codes of a row-major [n, k] matrix under given per-row scales (fixed scales, e.g. from calibration).</summary>
    public static void QuantizeWithRowScales(ReadOnlySpan<float> w, int n, int k, ReadOnlySpan<float> scales, Span<sbyte> q)
    {
        CheckShape(w.Length, n, k);
        CheckLength(q.Length, w.Length, nameof(q));
        CheckLength(scales.Length, n, nameof(scales));
        var level = KernelContext.Current.Simd;
        for (int r = 0; r < n; r++) Round(w.Slice(r * k, k), 1f / scales[r], q.Slice(r * k, k), level);
    }

    /// <summary>Absmean ternarisation of a row-major [n, k] matrix as a <see cref="TernaryQuantization"/> (codes, scales and
    /// the dequantised weights), per tensor (the paper's) or per output row.</summary>
    public static TernaryQuantization Absmean(ReadOnlySpan<float> w, int n, int k, bool perRowScale = false)
    {
        if (n < 0 || k < 0 || (long)n * k != w.Length) throw new ArgumentException($"w has {w.Length} values; expected n·k = {n}·{k}", nameof(w));
        var scales = AbsmeanScales(w, n, k, perRowScale);
        var codes = new sbyte[w.Length];
        var deq = new float[w.Length];
        for (int r = 0; r < n; r++)
        {
            float s = scales.Length == 1 ? scales[0] : scales[r], inv = 1f / s;
            for (int c = 0; c < k; c++)
            {
                int i = r * k + c;
                codes[i] = RoundOne(w[i], inv);
                deq[i] = codes[i] * s;
            }
        }
        return new TernaryQuantization(n, k, codes, scales, null, deq);
    }

    /// <summary>The absmean scale of the whole matrix ([1]) or of each row ([n]).</summary>
    public static float[] AbsmeanScales(ReadOnlySpan<float> w, int n, int k, bool perRow)
    {
        if (!perRow) return [AbsMeanScale(w)];
        var s = new float[n];
        for (int r = 0; r < n; r++) s[r] = AbsMeanScale(w.Slice(r * k, k), k, r, 0);
        return s;
    }

    /// <summary>q = clamp(round_half_even(w·inv), −1, 1), SIMD where allowed (Vector*.Round rounds half to even, like the scalar path).</summary>
    private static void Round(ReadOnlySpan<float> w, float inv, Span<sbyte> q, SimdLevel level)
    {
        int n = w.Length, i = 0;
        ref float src = ref MemoryMarshal.GetReference(w);
        ref sbyte dst = ref MemoryMarshal.GetReference(q);
        if (level >= SimdLevel.Vector512)
        {
            var vi = Vector512.Create(inv);
            for (; i <= n - 64; i += 64)
            {
                var a = Clamp1(Vector512.LoadUnsafe(ref src, (nuint)i) * vi);
                var b = Clamp1(Vector512.LoadUnsafe(ref src, (nuint)(i + 16)) * vi);
                var c = Clamp1(Vector512.LoadUnsafe(ref src, (nuint)(i + 32)) * vi);
                var d = Clamp1(Vector512.LoadUnsafe(ref src, (nuint)(i + 48)) * vi);
                Vector512.Narrow(Vector512.Narrow(a, b), Vector512.Narrow(c, d)).StoreUnsafe(ref dst, (nuint)i);
            }
        }
        if (level >= SimdLevel.Vector128)
        {
            var vi = Vector128.Create(inv);
            for (; i <= n - 16; i += 16)
            {
                var a = Clamp1(Vector128.LoadUnsafe(ref src, (nuint)i) * vi);
                var b = Clamp1(Vector128.LoadUnsafe(ref src, (nuint)(i + 4)) * vi);
                var c = Clamp1(Vector128.LoadUnsafe(ref src, (nuint)(i + 8)) * vi);
                var d = Clamp1(Vector128.LoadUnsafe(ref src, (nuint)(i + 12)) * vi);
                Vector128.Narrow(Vector128.Narrow(a, b), Vector128.Narrow(c, d)).StoreUnsafe(ref dst, (nuint)i);
            }
        }
        for (; i < n; i++) Unsafe.Add(ref dst, i) = RoundOne(Unsafe.Add(ref src, i), inv);
    }

    private static Vector512<int> Clamp1(Vector512<float> v) =>
        Vector512.ConvertToInt32(Vector512.MinNative(Vector512.MaxNative(Vector512.Round(v), Vector512.Create(-1f)), Vector512<float>.One));

    private static Vector128<int> Clamp1(Vector128<float> v) =>
        Vector128.ConvertToInt32(Vector128.MinNative(Vector128.MaxNative(Vector128.Round(v), Vector128.Create(-1f)), Vector128<float>.One));

    internal static ArgumentException NonFinite(float v, int i, int cols, int rowOffset, int colOffset)
    {
        string where = cols > 0 ? $"[{rowOffset + i / cols}, {colOffset + i % cols}]"
            : cols < 0 ? $"[{rowOffset}, {colOffset + i}]" : $"[{i}]";
        return new ArgumentException($"Weight {where} is {v}; ternary quantisation needs finite weights.", "w");
    }

    internal static void CheckShape(int length, int n, int k)
    {
        if (n < 0 || k < 0 || (long)n * k != length)
            throw new ArgumentException($"Matrix of {length} values does not have shape [{n}, {k}].");
    }

    internal static void CheckLength(int actual, int expected, string name)
    {
        if (actual != expected) throw new ArgumentException($"{name} has length {actual}; expected {expected}.", name);
    }
}
