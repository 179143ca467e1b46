namespace BitDistill.Kernels;

/// <summary>The base-3 "1.6-bit" storage format for ternary values: 5 trits per byte (3⁵ = 243 ≤ 256). Byte i holds
/// values 5i … 5i+4 as Σ_j (q[5i+j] + 1)·3^j (the first value is the least significant digit); a short last group is padded
/// with q = 0. 1.6 bits per weight; an export/storage format, unpacked to 2-bit codes before compute.</summary>
public static class TernaryBase3
{
    /// <summary>Trits per byte.</summary>
    public const int TritsPerByte = 5;

    /// <summary>Bytes needed for <paramref name="count"/> ternary values.</summary>
    public static int PackedLength(int count) => (count + TritsPerByte - 1) / TritsPerByte;

    /// <summary>Packs q ∈ {−1, 0, 1} into <see cref="PackedLength"/>(q.Length) bytes.</summary>
    public static void Pack(ReadOnlySpan<sbyte> q, Span<byte> dst)
    {
        TernaryQuantizer.CheckLength(dst.Length, PackedLength(q.Length), nameof(dst));
        for (int i = 0; i < dst.Length; i++)
        {
            int v = 0;
            for (int j = TritsPerByte - 1; j >= 0; j--)
            {
                int idx = i * TritsPerByte + j;
                int t = idx < q.Length ? q[idx] : 0;
                if (t < -1 || t > 1) throw new ArgumentException($"q[{idx}] = {t} is not ternary (−1, 0 or 1).", nameof(q));
                v = v * 3 + t + 1;
            }
            dst[i] = (byte)v;
        }
    }

    /// <summary>Unpacks <paramref name="q"/>.Length values; a byte above 242 is not a valid base-3 group and throws.</summary>
    public static void Unpack(ReadOnlySpan<byte> src, Span<sbyte> q)
    {
        TernaryQuantizer.CheckLength(src.Length, PackedLength(q.Length), nameof(src));
        for (int i = 0; i < src.Length; i++)
        {
            int v = src[i];
            if (v >= 243) throw new ArgumentException($"Byte {i} = {v} is not a base-3 group of 5 trits (must be < 243).", nameof(src));
            for (int j = 0; j < TritsPerByte; j++)
            {
                int idx = i * TritsPerByte + j;
                if (idx < q.Length) q[idx] = (sbyte)(v % 3 - 1);
                v /= 3;
            }
        }
    }
}
