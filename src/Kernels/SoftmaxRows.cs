using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace BitDistill.Kernels;

/// <summary>One-pass row kernels of the attention softmax (SIMD at the <see cref="KernelContext.Current"/> level, or one passed in, with
/// scalar definitions used below <see cref="SimdLevel.Vector128"/>).</summary>
public static class SoftmaxRows
{
    /// <summary>row[j] = exp(row[j] − shift); returns Σ row[j].</summary>
    public static float ExpShiftSum(Span<float> row, float shift) => ExpShiftSum(row, shift, row, KernelContext.Current.Simd);

    /// <summary>y[j] = exp(x[j] − shift); returns Σ y[j] (x and y may be the same span).</summary>
    public static float ExpShiftSum(ReadOnlySpan<float> x, float shift, Span<float> y) => ExpShiftSum(x, shift, y, KernelContext.Current.Simd);

    /// <summary>y[j] = exp(x[j] − shift) at the given SIMD level; returns Σ y[j] (x and y may be the same span).</summary>
    public static float ExpShiftSum(ReadOnlySpan<float> x, float shift, Span<float> y, SimdLevel level)
    {
        if (y.Length != x.Length) throw new ArgumentException("ExpShiftSum: length mismatch");
        int j = 0, n = x.Length;
        float sum = 0;
        ref float rx = ref MemoryMarshal.GetReference(x);
        ref float ry = ref MemoryMarshal.GetReference(y);
        if (level >= SimdLevel.Vector512 && n >= Vector512<float>.Count)
        {
            var acc = Vector512<float>.Zero; var sh = Vector512.Create(shift);
            for (; j <= n - Vector512<float>.Count; j += Vector512<float>.Count)
            {
                var e = FastExp.Exp(Vector512.LoadUnsafe(ref rx, (nuint)j) - sh);
                e.StoreUnsafe(ref ry, (nuint)j);
                acc += e;
            }
            sum = Vector512.Sum(acc);
        }
        else if (level >= SimdLevel.Vector256 && n >= Vector256<float>.Count)
        {
            var acc = Vector256<float>.Zero; var sh = Vector256.Create(shift);
            for (; j <= n - Vector256<float>.Count; j += Vector256<float>.Count)
            {
                var e = Vector256.Exp(Vector256.LoadUnsafe(ref rx, (nuint)j) - sh);
                e.StoreUnsafe(ref ry, (nuint)j);
                acc += e;
            }
            sum = Vector256.Sum(acc);
        }
        else if (level >= SimdLevel.Vector128 && n >= Vector128<float>.Count)
        {
            var acc = Vector128<float>.Zero; var sh = Vector128.Create(shift);
            for (; j <= n - Vector128<float>.Count; j += Vector128<float>.Count)
            {
                var e = Vector128.Exp(Vector128.LoadUnsafe(ref rx, (nuint)j) - sh);
                e.StoreUnsafe(ref ry, (nuint)j);
                acc += e;
            }
            sum = Vector128.Sum(acc);
        }
        for (; j < n; j++) { float e = MathF.Exp(x[j] - shift); y[j] = e; sum += e; }
        return sum;
    }

    /// <summary>row[j] = exp(row[j] − shift).</summary>
    public static void ExpShift(Span<float> row, float shift) => ExpShift(row, shift, KernelContext.Current.Simd);

    /// <summary>row[j] = exp(row[j] − shift) at the given SIMD level.</summary>
    public static void ExpShift(Span<float> row, float shift, SimdLevel level)
    {
        int j = 0, n = row.Length;
        ref float r = ref MemoryMarshal.GetReference(row);
        if (level >= SimdLevel.Vector512)
        {
            var sh = Vector512.Create(shift);
            for (; j <= n - Vector512<float>.Count; j += Vector512<float>.Count)
                FastExp.Exp(Vector512.LoadUnsafe(ref r, (nuint)j) - sh).StoreUnsafe(ref r, (nuint)j);
        }
        if (level >= SimdLevel.Vector256)
        {
            var sh = Vector256.Create(shift);
            for (; j <= n - Vector256<float>.Count; j += Vector256<float>.Count)
                Vector256.Exp(Vector256.LoadUnsafe(ref r, (nuint)j) - sh).StoreUnsafe(ref r, (nuint)j);
        }
        if (level >= SimdLevel.Vector128)
        {
            var sh = Vector128.Create(shift);
            for (; j <= n - Vector128<float>.Count; j += Vector128<float>.Count)
                Vector128.Exp(Vector128.LoadUnsafe(ref r, (nuint)j) - sh).StoreUnsafe(ref r, (nuint)j);
        }
        for (; j < n; j++) row[j] = MathF.Exp(row[j] - shift);
    }

    /// <summary>d[j] = (d[j] − c)·p[j].</summary>
    public static void SubtractMultiply(Span<float> d, float c, ReadOnlySpan<float> p) => SubtractMultiply(d, c, p, KernelContext.Current.Simd);

    /// <summary>d[j] = (d[j] − c)·p[j] at the given SIMD level.</summary>
    public static void SubtractMultiply(Span<float> d, float c, ReadOnlySpan<float> p, SimdLevel level)
    {
        if (p.Length != d.Length) throw new ArgumentException("SubtractMultiply: length mismatch");
        int j = 0, n = d.Length;
        ref float rd = ref MemoryMarshal.GetReference(d);
        ref float rp = ref MemoryMarshal.GetReference(p);
        if (level >= SimdLevel.Vector512)
        {
            var cv = Vector512.Create(c);
            for (; j <= n - Vector512<float>.Count; j += Vector512<float>.Count)
                ((Vector512.LoadUnsafe(ref rd, (nuint)j) - cv) * Vector512.LoadUnsafe(ref rp, (nuint)j)).StoreUnsafe(ref rd, (nuint)j);
        }
        if (level >= SimdLevel.Vector256)
        {
            var cv = Vector256.Create(c);
            for (; j <= n - Vector256<float>.Count; j += Vector256<float>.Count)
                ((Vector256.LoadUnsafe(ref rd, (nuint)j) - cv) * Vector256.LoadUnsafe(ref rp, (nuint)j)).StoreUnsafe(ref rd, (nuint)j);
        }
        if (level >= SimdLevel.Vector128)
        {
            var cv = Vector128.Create(c);
            for (; j <= n - Vector128<float>.Count; j += Vector128<float>.Count)
                ((Vector128.LoadUnsafe(ref rd, (nuint)j) - cv) * Vector128.LoadUnsafe(ref rp, (nuint)j)).StoreUnsafe(ref rd, (nuint)j);
        }
        for (; j < n; j++) d[j] = (d[j] - c) * p[j];
    }
}
