using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace BitDistill.Kernels;

/// <summary>Kernels over one row (the last dimension): softmax, log-softmax, RMSNorm and rotary embedding, each with its
/// scalar reference. <see cref="SimdLevel.Scalar"/> forces the reference loops.</summary>
public static class RowKernels
{
    /// <summary>Numerically stable softmax of one row (max subtracted first). NaN anywhere gives a NaN row.</summary>
    public static void Softmax(ReadOnlySpan<float> x, Span<float> y)
    {
        var level = KernelContext.Current.Simd;
        if (level < SimdLevel.Vector128) { SoftmaxReference(x, y); return; }
        float max = TensorPrimitives.Max(x);
        TensorPrimitives.Subtract(x, max, y);
        TensorPrimitives.Exp(y, y);
        float sum = TensorPrimitives.Sum(y);
        TensorPrimitives.Multiply(y, 1f / sum, y);
    }

    /// <summary>Scalar softmax.</summary>
    public static void SoftmaxReference(ReadOnlySpan<float> x, Span<float> y)
    {
        float max = float.NegativeInfinity;
        foreach (var v in x) max = float.IsNaN(v) || float.IsNaN(max) ? float.NaN : MathF.Max(max, v);
        float sum = 0;
        for (int i = 0; i < x.Length; i++) { y[i] = MathF.Exp(x[i] - max); sum += y[i]; }
        float inv = 1f / sum;
        for (int i = 0; i < x.Length; i++) y[i] *= inv;
    }

    /// <summary>Numerically stable log-softmax of one row: x − max − log Σ exp(x − max).</summary>
    public static void LogSoftmax(ReadOnlySpan<float> x, Span<float> y)
    {
        var level = KernelContext.Current.Simd;
        if (level < SimdLevel.Vector128) { LogSoftmaxReference(x, y); return; }
        float max = TensorPrimitives.Max(x);
        TensorPrimitives.Subtract(x, max, y);
        TensorPrimitives.Exp(y, y);
        float lse = MathF.Log(TensorPrimitives.Sum(y));
        TensorPrimitives.Subtract(x, max + lse, y); // y must not alias x
    }

    /// <summary>Scalar log-softmax.</summary>
    public static void LogSoftmaxReference(ReadOnlySpan<float> x, Span<float> y)
    {
        float max = float.NegativeInfinity;
        foreach (var v in x) max = float.IsNaN(v) || float.IsNaN(max) ? float.NaN : MathF.Max(max, v);
        float sum = 0;
        for (int i = 0; i < x.Length; i++) sum += MathF.Exp(x[i] - max);
        float lse = MathF.Log(sum);
        for (int i = 0; i < x.Length; i++) y[i] = x[i] - max - lse;
    }

    /// <summary>y = x / sqrt(mean(x²) + eps) · w (w empty: no weight). Returns the inverse RMS (kept for backward).</summary>
    public static float RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> w, float eps, Span<float> y)
    {
        var level = KernelContext.Current.Simd;
        if (level < SimdLevel.Vector128) return RmsNormReference(x, w, eps, y);
        float ss = TensorPrimitives.SumOfSquares(x);
        float r = 1f / MathF.Sqrt(ss / x.Length + eps);
        TensorPrimitives.Multiply(x, r, y);
        if (!w.IsEmpty) TensorPrimitives.Multiply(y, w, y);
        return r;
    }

    /// <summary>Scalar RMSNorm.</summary>
    public static float RmsNormReference(ReadOnlySpan<float> x, ReadOnlySpan<float> w, float eps, Span<float> y)
    {
        float ss = 0;
        foreach (var v in x) ss += v * v;
        float r = 1f / MathF.Sqrt(ss / x.Length + eps);
        for (int i = 0; i < x.Length; i++) y[i] = w.IsEmpty ? x[i] * r : x[i] * r * w[i];
        return r;
    }

    /// <summary>Rotate-half RoPE of one head vector: y₁ = x₁c₁ − x₂s₁, y₂ = x₂c₂ + x₁s₂. With <paramref name="transpose"/>
    /// it applies the transposed map (the backward): y₁ = x₁c₁ + x₂s₂, y₂ = x₂c₂ − x₁s₁. y may alias x.</summary>
    public static void Rope(ReadOnlySpan<float> x, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin, Span<float> y, bool transpose = false)
    {
        var level = KernelContext.Current.Simd;
        int h = x.Length / 2;
        if (level < SimdLevel.Vector128 || h == 0 || h > 1024) { RopeReference(x, cos, sin, y, transpose); return; }
        if (level >= SimdLevel.Vector512 && h % Vector512<float>.Count == 0) { Rope512(x, cos, sin, y, transpose); return; }
        Span<float> t = stackalloc float[h], u = stackalloc float[h];
        var x1 = x[..h]; var x2 = x[h..];
        // cross terms first so y may alias x
        TensorPrimitives.Multiply(x2, transpose ? sin[h..] : sin[..h], t);
        TensorPrimitives.Multiply(x1, transpose ? sin[..h] : sin[h..], u);
        var y1 = y[..h]; var y2 = y[h..];
        TensorPrimitives.Multiply(x1, cos[..h], y1);
        TensorPrimitives.Multiply(x2, cos[h..], y2);
        if (transpose) { TensorPrimitives.Add(y1, t, y1); TensorPrimitives.Subtract(y2, u, y2); }
        else { TensorPrimitives.Subtract(y1, t, y1); TensorPrimitives.Add(y2, u, y2); }
    }

    // Half-widths that are whole 512-bit vectors (head_dim 64, 128): both halves of each lane block are loaded before either
    // is stored, so y may alias x.
    private static void Rope512(ReadOnlySpan<float> x, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin, Span<float> y, bool transpose)
    {
        int h = x.Length / 2;
        ref float rx = ref MemoryMarshal.GetReference(x);
        ref float rc = ref MemoryMarshal.GetReference(cos);
        ref float rs = ref MemoryMarshal.GetReference(sin);
        ref float ry = ref MemoryMarshal.GetReference(y);
        for (int j = 0; j < h; j += Vector512<float>.Count)
        {
            nuint a = (nuint)j, b = (nuint)(j + h);
            var x1 = Vector512.LoadUnsafe(ref rx, a); var x2 = Vector512.LoadUnsafe(ref rx, b);
            var c1 = Vector512.LoadUnsafe(ref rc, a); var c2 = Vector512.LoadUnsafe(ref rc, b);
            var s1 = Vector512.LoadUnsafe(ref rs, a); var s2 = Vector512.LoadUnsafe(ref rs, b);
            if (transpose)
            {
                (x1 * c1 + x2 * s2).StoreUnsafe(ref ry, a);
                (x2 * c2 - x1 * s1).StoreUnsafe(ref ry, b);
            }
            else
            {
                (x1 * c1 - x2 * s1).StoreUnsafe(ref ry, a);
                (x2 * c2 + x1 * s2).StoreUnsafe(ref ry, b);
            }
        }
    }

    /// <summary>Scalar RoPE.</summary>
    public static void RopeReference(ReadOnlySpan<float> x, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin, Span<float> y, bool transpose = false)
    {
        int h = x.Length / 2;
        Span<float> r = x.Length <= 1024 ? stackalloc float[x.Length] : new float[x.Length];
        for (int i = 0; i < h; i++)
        {
            if (transpose) { r[i] = x[i] * cos[i] + x[i + h] * sin[i + h]; r[i + h] = x[i + h] * cos[i + h] - x[i] * sin[i]; }
            else { r[i] = x[i] * cos[i] - x[i + h] * sin[i]; r[i + h] = x[i + h] * cos[i + h] + x[i] * sin[i + h]; }
        }
        r.CopyTo(y);
    }
}
