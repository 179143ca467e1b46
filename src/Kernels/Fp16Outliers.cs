using System.Numerics;
using System.Runtime.Intrinsics;

namespace BitDistill.Kernels;

/// <summary>The halves of an IEEE-half matrix [n, k] that the FP16 GEMV's fast conversion gets wrong (zeros, subnormals, Inf,
/// NaN), found once per matrix, each with its row, column and correction (exact value − fast-conversion value). With them,
/// <see cref="Gemv.MultiplyF16(ReadOnlySpan{Half}, int, int, ReadOnlySpan{float}, Span{float}, Fp16Outliers)"/> converts every
/// half as a normal one, with no test in its loop, then adds Σ correction·x over these entries. Trained weights hold a few
/// (about 0.2 % subnormals for N(0, 0.02)); a test per block on the fly cost a third of the GEMV's speed (unpredictable
/// branches). The matrix must not change after the search.</summary>
public sealed class Fp16Outliers
{
    private Fp16Outliers(int rows, int columns, int[] rowStart, int[] row, int[] column, float[] correction)
    {
        Rows = rows; Columns = columns; RowStart = rowStart; Row = row; Column = column; Correction = correction;
    }

    /// <summary>Rows of the matrix searched.</summary>
    public int Rows { get; }

    /// <summary>Columns of the matrix searched.</summary>
    public int Columns { get; }

    /// <summary>Number of outliers.</summary>
    public int Count => Correction.Length;

    // CSR start of each row's entries (Rows + 1), and per entry its row (so a range of rows is one flat loop), column and correction
    internal int[] RowStart { get; }
    internal int[] Row { get; }
    internal int[] Column { get; }
    internal float[] Correction { get; }

    /// <summary>Default share of outliers above which <see cref="Find"/> gives up: past it the table (12 bytes per entry) costs
    /// more than it saves, and the GEMV's per-block test is the better path (pruned or quantised-to-zero matrices).</summary>
    public const double DefaultMaxShare = 1.0 / 64;

    /// <summary>The outliers of <paramref name="w"/> [n, k], or null when more than <paramref name="maxShare"/> of its halves are
    /// outliers.</summary>
    public static Fp16Outliers? Find(ReadOnlySpan<Half> w, int n, int k, double maxShare = DefaultMaxShare)
    {
        TernaryQuantizer.CheckShape(w.Length, n, k);
        if (!(maxShare >= 0 && maxShare <= 1)) throw new ArgumentOutOfRangeException(nameof(maxShare), maxShare, "the share of outliers must be in [0, 1]");
        var bits = System.Runtime.InteropServices.MemoryMarshal.Cast<Half, ushort>(w);
        var rowStart = new int[n + 1];
        long total = 0, limit = (long)(maxShare * ((long)n * k));
        for (int r = 0; r < n; r++)
        {
            rowStart[r] = (int)total; // ≤ the limit checked below, so within int
            total += CountRow(bits.Slice(r * k, k));
            if (total > limit || total > Array.MaxLength) return null;
        }
        rowStart[n] = (int)total;
        var row = new int[total]; var column = new int[total]; var correction = new float[total];
        for (int r = 0; r < n; r++)
            if (rowStart[r + 1] > rowStart[r]) Collect(bits.Slice(r * k, k), r, row, column, correction, rowStart[r]);
        return new Fp16Outliers(n, k, rowStart, row, column, correction);
    }

    /// <summary>Checks that these outliers were found in a matrix of the shape [n, k].</summary>
    internal void CheckShape(int n, int k)
    {
        if (n != Rows || k != Columns) throw new ArgumentException($"FP16 outliers were found in a [{Rows}, {Columns}] matrix, not [{n}, {k}]");
    }

    /// <summary>0x0400 ≤ |h| &lt; 0x7C00: a normal half (the unsigned subtraction wraps zeros and subnormals above 0x7800).</summary>
    internal static bool IsNormal(ushort h) => (ushort)((h & 0x7FFF) - 0x0400) < 0x7800;

    /// <summary>The GEMV's fast conversion of one half (exact for normal halves), as the vector code computes it.</summary>
    internal static float FastValue(ushort h) => BitConverter.Int32BitsToSingle(((((int)h << 16) >> 3) & Gemv.NormalMask) + (int)Gemv.Rebias);

    // writes the entries of row r's outliers from index e on, skipping all-normal vectors
    private static void Collect(ReadOnlySpan<ushort> h, int r, int[] row, int[] column, float[] correction, int e)
    {
        int i = 0;
        if (Vector128.IsHardwareAccelerated)
            for (; i <= h.Length - Vector128<ushort>.Count; i += Vector128<ushort>.Count)
                for (uint m = OutlierBits(h, i); m != 0; m &= m - 1, m &= m - 1) Add(h, i + BitOperations.TrailingZeroCount(m) / 2, r, row, column, correction, ref e);
        for (; i < h.Length; i++) if (!IsNormal(h[i])) Add(h, i, r, row, column, correction, ref e);
    }

    private static void Add(ReadOnlySpan<ushort> h, int c, int r, int[] row, int[] column, float[] correction, ref int e)
    {
        row[e] = r; column[e] = c; correction[e] = (float)BitConverter.UInt16BitsToHalf(h[c]) - FastValue(h[c]);
        e++;
    }

    private static int CountRow(ReadOnlySpan<ushort> h)
    {
        int count = 0, i = 0;
        if (Vector128.IsHardwareAccelerated)
            for (; i <= h.Length - Vector128<ushort>.Count; i += Vector128<ushort>.Count) count += BitOperations.PopCount(OutlierBits(h, i)) / 2;
        for (; i < h.Length; i++) if (!IsNormal(h[i])) count++;
        return count;
    }

    // IsNormal's test on the 8 halves at h[i..]: two set bits (a byte mask) per outlier
    private static uint OutlierBits(ReadOnlySpan<ushort> h, int i)
    {
        var v = Vector128.Create(h.Slice(i, Vector128<ushort>.Count));
        return Vector128.GreaterThanOrEqual((v & Vector128.Create((ushort)0x7FFF)) - Vector128.Create((ushort)0x0400), Vector128.Create((ushort)0x7800))
            .AsByte().ExtractMostSignificantBits();
    }
}
