using BitDistill.Kernels;

namespace BitDistill.Tests.Kernels;

/// <summary>The SIMD 16-bit float conversions must be bit-identical to their scalar references on every SIMD level.</summary>
public class NumericConvertTests
{
    private static readonly int[] OddLengths = [1, 3, 17, 33, 127, 1025];

    /// <summary>Every SIMD level this CPU can run (Scalar included).</summary>
    public static TheoryData<SimdLevel> Levels()
    {
        var d = new TheoryData<SimdLevel>();
        foreach (var l in Enum.GetValues<SimdLevel>()) if (l <= KernelContext.HardwareSimd) d.Add(l);
        return d;
    }

    private static ushort[] AllPatterns() => Enumerable.Range(0, 65536).Select(i => (ushort)i).ToArray();

    /// <summary>float edge cases: signed zeros, Inf, NaNs with payloads, ties, subnormals (f32 and f16), the largest finite values.</summary>
    private static float[] EdgeFloats()
    {
        var bits = new List<uint>
        {
            0x0000_0000, 0x8000_0000, 0x7F80_0000, 0xFF80_0000,   // ±0, ±Inf
            0x7FC0_0000, 0xFFC0_0000, 0x7F80_0001, 0xFF80_0001,   // quiet / signalling NaN
            0x7FBF_FFFF, 0x7FC1_2345, 0x7FFF_FFFF, 0xFFFF_FFFF,   // NaN payloads
            0x0000_0001, 0x8000_0001, 0x007F_FFFF, 0x0080_0000,   // f32 subnormals and min normal
            0x7F7F_FFFF, 0xFF7F_FFFF,                             // f32 max finite (→ Inf in bf16)
            0x7F7F_7FFF, 0x7F7F_8000, 0x7F7F_8001,                // around the bf16 overflow point
            0x3F80_8000, 0x3F81_8000, 0x3F80_7FFF, 0x3F80_8001,   // bf16 ties to even (down / up) and near-ties
            0x3F80_1000, 0x3F80_3000, 0x3F80_0FFF, 0x3F80_1001,   // f16 ties to even and near-ties
        };
        float[] exact =
        [
            65504f, -65504f, 65519.996f, 65520f, -65520f, 65536f, 1e10f, -1e10f,       // f16 max / overflow
            6.1035156e-05f, 6.1035153e-05f, 6.097555e-05f, 5.9604645e-08f,            // f16 min normal, largest subnormal, min subnormal
            2.9802322e-08f, 2.9802326e-08f, 8.940697e-08f, 1.4901161e-08f, 1e-20f,    // f16 subnormal ties / underflow
            1f, -1f, 0.1f, 3.14159265f, 1e-3f, -2.5e-7f,
        ];
        var r = bits.Select(BitConverter.UInt32BitsToSingle).Concat(exact).ToList();
        // Every f16 subnormal and the smallest normals, plus their midpoints (exact ties) and neighbours of the midpoints.
        for (int m = 0; m <= 0x401; m++)
        {
            float v = m * MathF.Pow(2, -24), mid = (m + 0.5f) * MathF.Pow(2, -24);
            r.Add(v); r.Add(-mid); r.Add(mid); r.Add(MathF.BitIncrement(mid)); r.Add(MathF.BitDecrement(mid));
        }
        return r.ToArray();
    }

    private static float[] RandomFloats(int n, int seed)
    {
        var rng = new Random(seed);
        var r = new float[n];
        for (int i = 0; i < n; i++)
            r[i] = (i % 3) switch
            {
                0 => BitConverter.UInt32BitsToSingle((uint)rng.NextInt64(0, 1L << 32)),      // any bit pattern
                1 => (float)((rng.NextDouble() * 2 - 1) * Math.Pow(2, rng.Next(-30, 18))),   // the f16-relevant range
                _ => (float)(rng.NextDouble() * 0.1 - 0.05),                                 // weight-like
            };
        return r;
    }

    [Theory, MemberData(nameof(Levels))]
    public void BFloat16ToSingleAllPatternsMatchReference(SimdLevel level)
    {
        using var _ = KernelContext.Override(simd: level);
        var src = AllPatterns();
        var fast = new float[src.Length]; var reference = new float[src.Length];
        NumericConvert.BFloat16ToSingle(src, fast);
        NumericConvert.BFloat16ToSingleReference(src, reference);
        for (int i = 0; i < src.Length; i++)
        {
            Assert.Equal((uint)src[i] << 16, BitConverter.SingleToUInt32Bits(fast[i]));
            Assert.Equal(BitConverter.SingleToUInt32Bits(reference[i]), BitConverter.SingleToUInt32Bits(fast[i]));
        }
    }

    [Theory, MemberData(nameof(Levels))]
    public void HalfToSingleAllPatternsMatchClrCast(SimdLevel level)
    {
        using var _ = KernelContext.Override(simd: level);
        var src = AllPatterns().Select(BitConverter.UInt16BitsToHalf).ToArray();
        var fast = new float[src.Length]; var reference = new float[src.Length];
        NumericConvert.HalfToSingle(src, fast);
        NumericConvert.HalfToSingleReference(src, reference);
        for (int i = 0; i < src.Length; i++)
            Assert.True(BitConverter.SingleToUInt32Bits(reference[i]) == BitConverter.SingleToUInt32Bits(fast[i]),
                $"half 0x{i:X4}: expected 0x{BitConverter.SingleToUInt32Bits(reference[i]):X8}, got 0x{BitConverter.SingleToUInt32Bits(fast[i]):X8}");
        // shuffled: vectors of normal halves with a zero, subnormal, Inf or NaN among them leave the all-normal fast path
        var rng = new Random(5);
        var shuffled = src.OrderBy(_ => rng.Next()).ToArray();
        NumericConvert.HalfToSingle(shuffled, fast);
        NumericConvert.HalfToSingleReference(shuffled, reference);
        for (int i = 0; i < src.Length; i++)
            Assert.True(BitConverter.SingleToUInt32Bits(reference[i]) == BitConverter.SingleToUInt32Bits(fast[i]),
                $"shuffled half 0x{BitConverter.HalfToUInt16Bits(shuffled[i]):X4}: expected 0x{BitConverter.SingleToUInt32Bits(reference[i]):X8}, got 0x{BitConverter.SingleToUInt32Bits(fast[i]):X8}");
    }

    [Theory, MemberData(nameof(Levels))]
    public void SingleToBFloat16EdgeAndRandomMatchReference(SimdLevel level)
    {
        using var _ = KernelContext.Override(simd: level);
        var src = EdgeFloats().Concat(RandomFloats(20000, 1)).ToArray();
        var fast = new ushort[src.Length]; var reference = new ushort[src.Length];
        NumericConvert.SingleToBFloat16(src, fast);
        NumericConvert.SingleToBFloat16Reference(src, reference);
        for (int i = 0; i < src.Length; i++)
            Assert.True(reference[i] == fast[i], $"0x{BitConverter.SingleToUInt32Bits(src[i]):X8}: expected 0x{reference[i]:X4}, got 0x{fast[i]:X4}");
    }

    [Fact]
    public void SingleToBFloat16ReferenceKnownValues()
    {
        ushort Bf(uint bits) { var d = new ushort[1]; NumericConvert.SingleToBFloat16Reference([BitConverter.UInt32BitsToSingle(bits)], d); return d[0]; }
        Assert.Equal(0x3F80, Bf(0x3F80_8000));   // tie, even below → down
        Assert.Equal(0x3F82, Bf(0x3F81_8000));   // tie, odd below → up
        Assert.Equal(0x3F81, Bf(0x3F80_8001));   // above tie → up
        Assert.Equal(0x7F80, Bf(0x7F7F_FFFF));   // float max → +Inf (PyTorch gives inf too)
        Assert.Equal(0xFF80, Bf(0xFF80_0000));   // -Inf
        Assert.Equal(0x8000, Bf(0x8000_0000));   // -0
        Assert.Equal(0x0000, Bf(0x0000_0001));   // smallest f32 subnormal → +0
        var nan = Bf(0x7F80_0001);               // signalling NaN whose payload lives only in the dropped bits
        Assert.True((nan & 0x7F80) == 0x7F80 && (nan & 0x007F) != 0, $"0x{nan:X4} is not a NaN");
        Assert.Equal(0xFFC0, Bf(0xFFC0_0000));   // sign kept
    }

    [Theory, MemberData(nameof(Levels))]
    public void SingleToHalfEdgeAndRandomMatchClrCast(SimdLevel level)
    {
        using var _ = KernelContext.Override(simd: level);
        var src = EdgeFloats().Concat(RandomFloats(20000, 2)).ToArray();
        var fast = new Half[src.Length]; var reference = new Half[src.Length];
        NumericConvert.SingleToHalf(src, fast);
        NumericConvert.SingleToHalfReference(src, reference);
        for (int i = 0; i < src.Length; i++)
        {
            ushort e = BitConverter.HalfToUInt16Bits(reference[i]), g = BitConverter.HalfToUInt16Bits(fast[i]);
            Assert.True(e == g, $"0x{BitConverter.SingleToUInt32Bits(src[i]):X8} ({src[i]:R}): expected 0x{e:X4}, got 0x{g:X4}");
        }
    }

    [Fact]
    public void SingleToHalfKnownValues()
    {
        ushort H(float f) { var d = new Half[1]; NumericConvert.SingleToHalf([f], d); return BitConverter.HalfToUInt16Bits(d[0]); }
        Assert.Equal(0x7BFF, H(65504f));
        Assert.Equal(0x7BFF, H(65519.996f));
        Assert.Equal(0x7C00, H(65520f));          // tie between max and 2^16 rounds to even → Inf
        Assert.Equal(0xFC00, H(float.NegativeInfinity));
        Assert.Equal(0x0001, H(5.9604645e-08f));  // smallest subnormal
        Assert.Equal(0x0000, H(2.9802322e-08f));  // half of it: tie → even (0)
        Assert.Equal(0x0002, H(8.940697e-08f));   // 1.5 × smallest: tie → even (2)
        Assert.Equal(0x0400, H(6.1035156e-05f));  // smallest normal
        Assert.Equal(0x8000, H(-0f));
        Assert.Equal(0x7E00, H(float.NaN) & 0x7E00);
    }

    [Theory, MemberData(nameof(Levels))]
    public void OddLengthsAllConversionsMatchReference(SimdLevel level)
    {
        using var _ = KernelContext.Override(simd: level);
        foreach (int n in OddLengths)
        {
            var f = RandomFloats(n, n);
            // Guard cells after the slice catch writes past the end.
            var bf = new ushort[n + 1]; bf[n] = 0xBEEF; var bfRef = new ushort[n];
            NumericConvert.SingleToBFloat16(f, bf.AsSpan(0, n)); NumericConvert.SingleToBFloat16Reference(f, bfRef);
            Assert.Equal(bfRef, bf.AsSpan(0, n).ToArray()); Assert.Equal(0xBEEF, bf[n]);

            var h = new Half[n + 1]; h[n] = (Half)7; var hRef = new Half[n];
            NumericConvert.SingleToHalf(f, h.AsSpan(0, n)); NumericConvert.SingleToHalfReference(f, hRef);
            Assert.Equal(hRef.Select(BitConverter.HalfToUInt16Bits), h.Take(n).Select(BitConverter.HalfToUInt16Bits)); Assert.Equal((Half)7, h[n]);

            var back = new float[n + 1]; back[n] = 42; var backRef = new float[n];
            NumericConvert.BFloat16ToSingle(bfRef, back.AsSpan(0, n)); NumericConvert.BFloat16ToSingleReference(bfRef, backRef);
            Assert.Equal(backRef.Select(BitConverter.SingleToUInt32Bits), back.Take(n).Select(BitConverter.SingleToUInt32Bits)); Assert.Equal(42f, back[n]);

            NumericConvert.HalfToSingle(hRef, back.AsSpan(0, n)); NumericConvert.HalfToSingleReference(hRef, backRef);
            Assert.Equal(backRef.Select(BitConverter.SingleToUInt32Bits), back.Take(n).Select(BitConverter.SingleToUInt32Bits)); Assert.Equal(42f, back[n]);
        }
    }

    [Fact]
    public void LengthMismatchThrows()
    {
        Assert.Throws<ArgumentException>(() => NumericConvert.SingleToBFloat16(new float[3], new ushort[2]));
        Assert.Throws<ArgumentException>(() => NumericConvert.HalfToSingle(new Half[3], new float[4]));
    }
}
