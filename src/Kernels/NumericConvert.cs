using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace BitDistill.Kernels;

/// <summary>Bulk conversions between float32 and the 16-bit storage formats (bfloat16 as raw <see cref="ushort"/> bits,
/// IEEE binary16 as <see cref="Half"/>), SIMD on Vector512/256/128 chosen by <see cref="KernelContext.Simd"/>.</summary>
/// <remarks>
/// All fast paths work on the integer bit patterns: float multiplies by powers of two (the usual trick) are slow on
/// denormal data on some CPUs, and <c>TensorPrimitives.ConvertToSingle(Half)</c> measured ~3× slower than this.
/// The only float operations used are an int→float conversion of an integer ≤ 1023 (exact) and a round-to-even of a
/// normal float, neither of which sees a denormal.
/// Every fast path is bit-identical to its <c>…Reference</c> (checked exhaustively / on random data by the tests).
/// NaN handling: the sign and the leading payload bits are kept and the quiet bit is set (the Rust <c>half</c> crate
/// and the CLR casts do the same; PyTorch instead writes a canonical 0x7FC0 for bf16).
/// </remarks>
public static class NumericConvert
{
    // ---------------------------------------------------------------- bf16 → float

    /// <summary>bfloat16 bits → float32 (exact: the bits are the top half of the float).</summary>
    public static void BFloat16ToSingle(ReadOnlySpan<ushort> src, Span<float> dst)
    {
        var level = KernelContext.Current.Simd;
        CheckLengths(src.Length, dst.Length);
        int n = src.Length, i = 0;
        ref ushort s = ref MemoryMarshal.GetReference(src);
        ref uint d = ref Unsafe.As<float, uint>(ref MemoryMarshal.GetReference(dst));
        if (level >= SimdLevel.Vector512)
        {
            for (; i <= n - Vector512<ushort>.Count; i += Vector512<ushort>.Count)
            {
                var v = Vector512.LoadUnsafe(ref s, (nuint)i);
                (Vector512.WidenLower(v) << 16).StoreUnsafe(ref d, (nuint)i);
                (Vector512.WidenUpper(v) << 16).StoreUnsafe(ref d, (nuint)(i + Vector512<uint>.Count));
            }
        }
        if (level >= SimdLevel.Vector256)
        {
            for (; i <= n - Vector256<ushort>.Count; i += Vector256<ushort>.Count)
            {
                var v = Vector256.LoadUnsafe(ref s, (nuint)i);
                (Vector256.WidenLower(v) << 16).StoreUnsafe(ref d, (nuint)i);
                (Vector256.WidenUpper(v) << 16).StoreUnsafe(ref d, (nuint)(i + Vector256<uint>.Count));
            }
        }
        if (level >= SimdLevel.Vector128)
        {
            for (; i <= n - Vector128<ushort>.Count; i += Vector128<ushort>.Count)
            {
                var v = Vector128.LoadUnsafe(ref s, (nuint)i);
                (Vector128.WidenLower(v) << 16).StoreUnsafe(ref d, (nuint)i);
                (Vector128.WidenUpper(v) << 16).StoreUnsafe(ref d, (nuint)(i + Vector128<uint>.Count));
            }
        }
        for (; i < n; i++) Unsafe.Add(ref d, i) = (uint)Unsafe.Add(ref s, i) << 16;
    }

    /// <summary>Scalar oracle for <see cref="BFloat16ToSingle"/>.</summary>
    public static void BFloat16ToSingleReference(ReadOnlySpan<ushort> src, Span<float> dst)
    {
        CheckLengths(src.Length, dst.Length);
        for (int i = 0; i < src.Length; i++) dst[i] = BitConverter.UInt32BitsToSingle((uint)src[i] << 16);
    }

    // ---------------------------------------------------------------- float → bf16

    /// <summary>float32 → bfloat16 bits, round to nearest even; ±Inf kept, values past the largest bf16 round to ±Inf
    /// (as PyTorch does), NaN stays a quiet NaN.</summary>
    public static void SingleToBFloat16(ReadOnlySpan<float> src, Span<ushort> dst)
    {
        var level = KernelContext.Current.Simd;
        CheckLengths(src.Length, dst.Length);
        int n = src.Length, i = 0;
        ref uint s = ref Unsafe.As<float, uint>(ref MemoryMarshal.GetReference(src));
        ref ushort d = ref MemoryMarshal.GetReference(dst);
        if (level >= SimdLevel.Vector512)
        {
            for (; i <= n - Vector512<ushort>.Count; i += Vector512<ushort>.Count)
            {
                var lo = ToBf16(Vector512.LoadUnsafe(ref s, (nuint)i));
                var hi = ToBf16(Vector512.LoadUnsafe(ref s, (nuint)(i + Vector512<uint>.Count)));
                Vector512.Narrow(lo, hi).StoreUnsafe(ref d, (nuint)i);
            }
        }
        if (level >= SimdLevel.Vector256)
        {
            for (; i <= n - Vector256<ushort>.Count; i += Vector256<ushort>.Count)
            {
                var lo = ToBf16(Vector256.LoadUnsafe(ref s, (nuint)i));
                var hi = ToBf16(Vector256.LoadUnsafe(ref s, (nuint)(i + Vector256<uint>.Count)));
                Vector256.Narrow(lo, hi).StoreUnsafe(ref d, (nuint)i);
            }
        }
        if (level >= SimdLevel.Vector128)
        {
            for (; i <= n - Vector128<ushort>.Count; i += Vector128<ushort>.Count)
            {
                var lo = ToBf16(Vector128.LoadUnsafe(ref s, (nuint)i));
                var hi = ToBf16(Vector128.LoadUnsafe(ref s, (nuint)(i + Vector128<uint>.Count)));
                Vector128.Narrow(lo, hi).StoreUnsafe(ref d, (nuint)i);
            }
        }
        for (; i < n; i++) Unsafe.Add(ref d, i) = ToBf16(Unsafe.Add(ref s, i));
    }

    /// <summary>Scalar oracle for <see cref="SingleToBFloat16"/> (written from the definition, branchy on purpose).</summary>
    public static void SingleToBFloat16Reference(ReadOnlySpan<float> src, Span<ushort> dst)
    {
        CheckLengths(src.Length, dst.Length);
        for (int i = 0; i < src.Length; i++)
        {
            uint b = BitConverter.SingleToUInt32Bits(src[i]);
            if (float.IsNaN(src[i])) { dst[i] = (ushort)((b >> 16) | 0x0040); continue; }
            uint upper = b >> 16, lower = b & 0xFFFF;
            // Round half to even on the 16 dropped bits; a carry out of the mantissa bumps the exponent,
            // which is exactly the right answer (and turns the largest finite values into Inf).
            if (lower > 0x8000 || (lower == 0x8000 && (upper & 1) == 1)) upper++;
            dst[i] = (ushort)upper;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ushort ToBf16(uint b)
    {
        if ((b & 0x7FFF_FFFF) > 0x7F80_0000) return (ushort)((b >> 16) | 0x0040);
        return (ushort)((b + 0x7FFF + ((b >> 16) & 1)) >> 16);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<uint> ToBf16(Vector512<uint> b)
    {
        var rounded = (b + Vector512.Create(0x7FFFu) + ((b >> 16) & Vector512<uint>.One)) >> 16;
        var nan = Vector512.GreaterThan((b & Vector512.Create(0x7FFF_FFFFu)).AsInt32(), Vector512.Create(0x7F80_0000)).AsUInt32();
        return Vector512.ConditionalSelect(nan, (b >> 16) | Vector512.Create(0x0040u), rounded);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> ToBf16(Vector256<uint> b)
    {
        var rounded = (b + Vector256.Create(0x7FFFu) + ((b >> 16) & Vector256<uint>.One)) >> 16;
        var nan = Vector256.GreaterThan((b & Vector256.Create(0x7FFF_FFFFu)).AsInt32(), Vector256.Create(0x7F80_0000)).AsUInt32();
        return Vector256.ConditionalSelect(nan, (b >> 16) | Vector256.Create(0x0040u), rounded);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<uint> ToBf16(Vector128<uint> b)
    {
        var rounded = (b + Vector128.Create(0x7FFFu) + ((b >> 16) & Vector128<uint>.One)) >> 16;
        var nan = Vector128.GreaterThan((b & Vector128.Create(0x7FFF_FFFFu)).AsInt32(), Vector128.Create(0x7F80_0000)).AsUInt32();
        return Vector128.ConditionalSelect(nan, (b >> 16) | Vector128.Create(0x0040u), rounded);
    }

    // ---------------------------------------------------------------- f16 → float

    // Normal halves: move exponent+mantissa up 13 bits and rebias the exponent by 127-15 = 112.
    // Inf/NaN: rebias once more so the exponent field goes 31 → 143 → 255. Subnormals (m < 0x400): the value is
    // m·2^-24, so convert the integer m exactly and subtract 24 from the exponent field.
    private const uint Rebias = 112u << 23;

    /// <summary>IEEE half → float32 (exact for every number, subnormals included; a NaN keeps sign and payload and comes out quiet).</summary>
    public static void HalfToSingle(ReadOnlySpan<Half> src, Span<float> dst)
    {
        var level = KernelContext.Current.Simd;
        CheckLengths(src.Length, dst.Length);
        int n = src.Length, i = 0;
        ref ushort s = ref Unsafe.As<Half, ushort>(ref MemoryMarshal.GetReference(src));
        ref uint d = ref Unsafe.As<float, uint>(ref MemoryMarshal.GetReference(dst));
        if (level >= SimdLevel.Vector512)
        {
            for (; i <= n - Vector512<ushort>.Count; i += Vector512<ushort>.Count)
            {
                var v = Vector512.LoadUnsafe(ref s, (nuint)i);
                // almost every vector of real weights or activations holds only normal halves: 4 integer ops per 16 instead of ~20
                if (Gemv.AllNormal(v))
                {
                    Gemv.NormalToSingle(Vector512.WidenLower(v)).AsUInt32().StoreUnsafe(ref d, (nuint)i);
                    Gemv.NormalToSingle(Vector512.WidenUpper(v)).AsUInt32().StoreUnsafe(ref d, (nuint)(i + Vector512<uint>.Count));
                    continue;
                }
                FromHalf(Vector512.WidenLower(v)).StoreUnsafe(ref d, (nuint)i);
                FromHalf(Vector512.WidenUpper(v)).StoreUnsafe(ref d, (nuint)(i + Vector512<uint>.Count));
            }
        }
        if (level >= SimdLevel.Vector256)
        {
            for (; i <= n - Vector256<ushort>.Count; i += Vector256<ushort>.Count)
            {
                var v = Vector256.LoadUnsafe(ref s, (nuint)i);
                if (Gemv.AllNormal(v))
                {
                    Gemv.NormalToSingle(Vector256.WidenLower(v)).AsUInt32().StoreUnsafe(ref d, (nuint)i);
                    Gemv.NormalToSingle(Vector256.WidenUpper(v)).AsUInt32().StoreUnsafe(ref d, (nuint)(i + Vector256<uint>.Count));
                    continue;
                }
                FromHalf(Vector256.WidenLower(v)).StoreUnsafe(ref d, (nuint)i);
                FromHalf(Vector256.WidenUpper(v)).StoreUnsafe(ref d, (nuint)(i + Vector256<uint>.Count));
            }
        }
        if (level >= SimdLevel.Vector128)
        {
            for (; i <= n - Vector128<ushort>.Count; i += Vector128<ushort>.Count)
            {
                var v = Vector128.LoadUnsafe(ref s, (nuint)i);
                FromHalf(Vector128.WidenLower(v)).StoreUnsafe(ref d, (nuint)i);
                FromHalf(Vector128.WidenUpper(v)).StoreUnsafe(ref d, (nuint)(i + Vector128<uint>.Count));
            }
        }
        for (; i < n; i++) Unsafe.Add(ref d, i) = FromHalf(Unsafe.Add(ref s, i));
    }

    /// <summary>Scalar oracle for <see cref="HalfToSingle"/>: the CLR's (exact) cast.</summary>
    public static void HalfToSingleReference(ReadOnlySpan<Half> src, Span<float> dst)
    {
        CheckLengths(src.Length, dst.Length);
        for (int i = 0; i < src.Length; i++) dst[i] = (float)src[i];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint FromHalf(uint h)
    {
        uint sign = (h & 0x8000) << 16, m = h & 0x7FFF;
        uint r;
        if (m > 0x7C00) r = (m << 13) + 2 * Rebias | 0x0040_0000; // NaN: set the quiet bit, as F16C and the CLR do
        else if (m == 0x7C00) r = (m << 13) + 2 * Rebias;
        else if (m >= 0x400) r = (m << 13) + Rebias;
        else if (m != 0) r = BitConverter.SingleToUInt32Bits(m) - (24u << 23);
        else r = 0;
        return sign | r;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<uint> FromHalf(Vector512<uint> h)
    {
        var sign = (h & Vector512.Create(0x8000u)) << 16;
        var m = (h & Vector512.Create(0x7FFFu)).AsInt32();
        var normal = (m << 13).AsUInt32() + Vector512.Create(Rebias);
        var special = Vector512.GreaterThanOrEqual(m, Vector512.Create(0x7C00)).AsUInt32();
        normal += special & Vector512.Create(Rebias);
        normal |= Vector512.GreaterThan(m, Vector512.Create(0x7C00)).AsUInt32() & Vector512.Create(0x0040_0000u);
        var sub = (Vector512.ConvertToSingle(m).AsUInt32() - Vector512.Create(24u << 23))
                  & ~Vector512.Equals(m, Vector512<int>.Zero).AsUInt32();
        var isSub = Vector512.LessThan(m, Vector512.Create(0x400)).AsUInt32();
        return sign | Vector512.ConditionalSelect(isSub, sub, normal);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> FromHalf(Vector256<uint> h)
    {
        var sign = (h & Vector256.Create(0x8000u)) << 16;
        var m = (h & Vector256.Create(0x7FFFu)).AsInt32();
        var normal = (m << 13).AsUInt32() + Vector256.Create(Rebias);
        var special = Vector256.GreaterThanOrEqual(m, Vector256.Create(0x7C00)).AsUInt32();
        normal += special & Vector256.Create(Rebias);
        normal |= Vector256.GreaterThan(m, Vector256.Create(0x7C00)).AsUInt32() & Vector256.Create(0x0040_0000u);
        var sub = (Vector256.ConvertToSingle(m).AsUInt32() - Vector256.Create(24u << 23))
                  & ~Vector256.Equals(m, Vector256<int>.Zero).AsUInt32();
        var isSub = Vector256.LessThan(m, Vector256.Create(0x400)).AsUInt32();
        return sign | Vector256.ConditionalSelect(isSub, sub, normal);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<uint> FromHalf(Vector128<uint> h)
    {
        var sign = (h & Vector128.Create(0x8000u)) << 16;
        var m = (h & Vector128.Create(0x7FFFu)).AsInt32();
        var normal = (m << 13).AsUInt32() + Vector128.Create(Rebias);
        var special = Vector128.GreaterThanOrEqual(m, Vector128.Create(0x7C00)).AsUInt32();
        normal += special & Vector128.Create(Rebias);
        normal |= Vector128.GreaterThan(m, Vector128.Create(0x7C00)).AsUInt32() & Vector128.Create(0x0040_0000u);
        var sub = (Vector128.ConvertToSingle(m).AsUInt32() - Vector128.Create(24u << 23))
                  & ~Vector128.Equals(m, Vector128<int>.Zero).AsUInt32();
        var isSub = Vector128.LessThan(m, Vector128.Create(0x400)).AsUInt32();
        return sign | Vector128.ConditionalSelect(isSub, sub, normal);
    }

    // ---------------------------------------------------------------- float → f16

    // |x| bit thresholds: 0x477FF000 = 65520, the midpoint between the largest half (65504) and 2^16; it and everything
    // above round to Inf. 0x38800000 = 2^-14, the smallest normal half. Below it the result is subnormal: scaling by 2^24
    // (an exponent add, no multiply) turns the value into the subnormal's integer mantissa, which a round-to-even of that
    // normal float (≥ 2^-103) produces exactly; 1024 comes out as 0x400, the smallest normal, which is also correct.
    private const int HalfOverflow = 0x477F_F000, HalfMinNormal = 0x3880_0000, F32Inf = 0x7F80_0000;

    /// <summary>float32 → IEEE half, round to nearest even (subnormals included); overflow → ±Inf, NaN stays a quiet NaN.</summary>
    public static void SingleToHalf(ReadOnlySpan<float> src, Span<Half> dst)
    {
        var level = KernelContext.Current.Simd;
        CheckLengths(src.Length, dst.Length);
        int n = src.Length, i = 0;
        ref uint s = ref Unsafe.As<float, uint>(ref MemoryMarshal.GetReference(src));
        ref ushort d = ref Unsafe.As<Half, ushort>(ref MemoryMarshal.GetReference(dst));
        if (level >= SimdLevel.Vector512)
        {
            for (; i <= n - Vector512<ushort>.Count; i += Vector512<ushort>.Count)
            {
                var lo = ToHalf(Vector512.LoadUnsafe(ref s, (nuint)i));
                var hi = ToHalf(Vector512.LoadUnsafe(ref s, (nuint)(i + Vector512<uint>.Count)));
                Vector512.Narrow(lo, hi).StoreUnsafe(ref d, (nuint)i);
            }
        }
        if (level >= SimdLevel.Vector256)
        {
            for (; i <= n - Vector256<ushort>.Count; i += Vector256<ushort>.Count)
            {
                var lo = ToHalf(Vector256.LoadUnsafe(ref s, (nuint)i));
                var hi = ToHalf(Vector256.LoadUnsafe(ref s, (nuint)(i + Vector256<uint>.Count)));
                Vector256.Narrow(lo, hi).StoreUnsafe(ref d, (nuint)i);
            }
        }
        if (level >= SimdLevel.Vector128)
        {
            for (; i <= n - Vector128<ushort>.Count; i += Vector128<ushort>.Count)
            {
                var lo = ToHalf(Vector128.LoadUnsafe(ref s, (nuint)i));
                var hi = ToHalf(Vector128.LoadUnsafe(ref s, (nuint)(i + Vector128<uint>.Count)));
                Vector128.Narrow(lo, hi).StoreUnsafe(ref d, (nuint)i);
            }
        }
        for (; i < n; i++) Unsafe.Add(ref d, i) = ToHalf(Unsafe.Add(ref s, i));
    }

    /// <summary>Scalar oracle for <see cref="SingleToHalf"/>: the CLR's (correctly rounded) cast.</summary>
    public static void SingleToHalfReference(ReadOnlySpan<float> src, Span<Half> dst)
    {
        CheckLengths(src.Length, dst.Length);
        for (int i = 0; i < src.Length; i++) dst[i] = (Half)src[i];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ushort ToHalf(uint b)
    {
        uint sign = (b >> 16) & 0x8000;
        int a = (int)(b & 0x7FFF_FFFF);
        uint r;
        if (a > F32Inf) r = 0x7E00 | (((uint)a >> 13) & 0x3FF);
        else if (a >= HalfOverflow) r = 0x7C00;
        else if (a >= HalfMinNormal) r = ((uint)a - Rebias + 0xFFF + (((uint)a >> 13) & 1)) >> 13;
        else r = (uint)MathF.Round(BitConverter.UInt32BitsToSingle((uint)a + (24u << 23)), MidpointRounding.ToEven);
        return (ushort)(sign | r);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<uint> ToHalf(Vector512<uint> b)
    {
        var sign = (b >> 16) & Vector512.Create(0x8000u);
        var a = b & Vector512.Create(0x7FFF_FFFFu);
        var ai = a.AsInt32();
        var normal = (a - Vector512.Create(Rebias - 0xFFF) + ((a >> 13) & Vector512<uint>.One)) >> 13;
        var sub = Vector512.ConvertToInt32(Vector512.Round((a + Vector512.Create(24u << 23)).AsSingle())).AsUInt32();
        var r = Vector512.ConditionalSelect(Vector512.LessThan(ai, Vector512.Create(HalfMinNormal)).AsUInt32(), sub, normal);
        r = Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(ai, Vector512.Create(HalfOverflow)).AsUInt32(), Vector512.Create(0x7C00u), r);
        var nan = Vector512.Create(0x7E00u) | ((a >> 13) & Vector512.Create(0x3FFu));
        r = Vector512.ConditionalSelect(Vector512.GreaterThan(ai, Vector512.Create(F32Inf)).AsUInt32(), nan, r);
        return sign | r;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> ToHalf(Vector256<uint> b)
    {
        var sign = (b >> 16) & Vector256.Create(0x8000u);
        var a = b & Vector256.Create(0x7FFF_FFFFu);
        var ai = a.AsInt32();
        var normal = (a - Vector256.Create(Rebias - 0xFFF) + ((a >> 13) & Vector256<uint>.One)) >> 13;
        var sub = Vector256.ConvertToInt32(Vector256.Round((a + Vector256.Create(24u << 23)).AsSingle())).AsUInt32();
        var r = Vector256.ConditionalSelect(Vector256.LessThan(ai, Vector256.Create(HalfMinNormal)).AsUInt32(), sub, normal);
        r = Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(ai, Vector256.Create(HalfOverflow)).AsUInt32(), Vector256.Create(0x7C00u), r);
        var nan = Vector256.Create(0x7E00u) | ((a >> 13) & Vector256.Create(0x3FFu));
        r = Vector256.ConditionalSelect(Vector256.GreaterThan(ai, Vector256.Create(F32Inf)).AsUInt32(), nan, r);
        return sign | r;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<uint> ToHalf(Vector128<uint> b)
    {
        var sign = (b >> 16) & Vector128.Create(0x8000u);
        var a = b & Vector128.Create(0x7FFF_FFFFu);
        var ai = a.AsInt32();
        var normal = (a - Vector128.Create(Rebias - 0xFFF) + ((a >> 13) & Vector128<uint>.One)) >> 13;
        var sub = Vector128.ConvertToInt32(Vector128.Round((a + Vector128.Create(24u << 23)).AsSingle())).AsUInt32();
        var r = Vector128.ConditionalSelect(Vector128.LessThan(ai, Vector128.Create(HalfMinNormal)).AsUInt32(), sub, normal);
        r = Vector128.ConditionalSelect(Vector128.GreaterThanOrEqual(ai, Vector128.Create(HalfOverflow)).AsUInt32(), Vector128.Create(0x7C00u), r);
        var nan = Vector128.Create(0x7E00u) | ((a >> 13) & Vector128.Create(0x3FFu));
        r = Vector128.ConditionalSelect(Vector128.GreaterThan(ai, Vector128.Create(F32Inf)).AsUInt32(), nan, r);
        return sign | r;
    }

    private static void CheckLengths(int src, int dst)
    {
        if (src != dst) throw new ArgumentException($"source has {src} elements but destination has {dst}");
    }
}
