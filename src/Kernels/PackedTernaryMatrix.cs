using System.Runtime.CompilerServices;

namespace BitDistill.Kernels;

/// <summary>A row-major [Rows, Cols] ternary weight matrix in 2-bit codes (code = q + 1 ∈ {0, 1, 2}; 3 never occurs), with its scale(s).
/// <para>Layout: each row is padded to <see cref="PaddedCols"/> (a multiple of <see cref="BlockSize"/> = 128) with code 1 (q = 0) and
/// stored as <see cref="RowBytes"/> = PaddedCols / 4 bytes; rows follow each other with no gap. Within a 128-weight block (32 bytes),
/// byte j (0 ≤ j &lt; 32) holds weight j in bits 0–1, weight j + 32 in bits 2–3, weight j + 64 in bits 4–5 and weight j + 96 in bits 6–7,
/// so a 32-byte load, one shift and one mask (or one GFNI affine) give 32 consecutive codes (I2_S-style).</para>
/// The data lives in a pinned, 64-byte aligned buffer so kernels can stream it through raw pointers.</summary>
public sealed unsafe class PackedTernaryMatrix
{
    /// <summary>Weights per block (the padding granule of a row).</summary>
    public const int BlockSize = 128;
    /// <summary>Bytes per block.</summary>
    public const int BlockBytes = BlockSize / 4;

    private readonly byte[] _buffer;   // pinned (POH), never moves
    private readonly int _offset;      // start of the 64-byte aligned data
    private readonly float[] _scales;

    /// <summary>Output rows N.</summary>
    public int Rows { get; }
    /// <summary>Input columns K (unpadded).</summary>
    public int Cols { get; }
    /// <summary>K rounded up to a multiple of <see cref="BlockSize"/>.</summary>
    public int PaddedCols { get; }
    /// <summary>Bytes per packed row (PaddedCols / 4).</summary>
    public int RowBytes => PaddedCols / 4;
    /// <summary>Per-tensor or per-row scales.</summary>
    public TernaryScaleMode ScaleMode { get; }
    /// <summary>The packed codes, Rows × RowBytes bytes.</summary>
    public ReadOnlySpan<byte> Data => _buffer.AsSpan(_offset, Rows * RowBytes);
    /// <summary>The scale(s): length 1 (per tensor) or Rows (per row); a dequantised weight is q · scale.</summary>
    public ReadOnlySpan<float> Scales => _scales;
    /// <summary>Bytes of packed data (the weight traffic of one GEMV).</summary>
    public long ByteCount => (long)Rows * RowBytes;
    internal byte* Pointer => (byte*)Unsafe.AsPointer(ref _buffer[0]) + _offset;

    private PackedTernaryMatrix(int n, int k, TernaryScaleMode mode, float[] scales)
    {
        if (n < 0 || k < 0) throw new ArgumentOutOfRangeException(nameof(n), $"Shape [{n}, {k}] is invalid.");
        Rows = n; Cols = k; ScaleMode = mode; _scales = scales;
        PaddedCols = (int)(((long)k + BlockSize - 1) / BlockSize * BlockSize);
        int bytes = checked(n * RowBytes);
        _buffer = GC.AllocateUninitializedArray<byte>(bytes + 64, pinned: true);
        nint addr = (nint)Unsafe.AsPointer(ref _buffer[0]);
        _offset = (int)((64 - (addr & 63)) & 63);
    }

    /// <summary>The scale of output row <paramref name="row"/>.</summary>
    public float Scale(int row) => ScaleMode == TernaryScaleMode.PerTensor ? _scales[0] : _scales[row];

    /// <summary>Quantises a row-major [n, k] float matrix (absmean, see <see cref="TernaryQuantizer"/>) and packs it.</summary>
    public static PackedTernaryMatrix Pack(ReadOnlySpan<float> w, int n, int k, TernaryScaleMode mode)
    {
        TernaryQuantizer.CheckShape(w.Length, n, k);
        var q = new sbyte[w.Length];
        float[] scales;
        if (mode == TernaryScaleMode.PerTensor) scales = [TernaryQuantizer.QuantizePerTensor(w, q)];
        else if (mode == TernaryScaleMode.PerRow) { scales = new float[n]; TernaryQuantizer.QuantizePerRow(w, n, k, q, scales); }
        else throw new ArgumentOutOfRangeException(nameof(mode), mode, "Unknown scale mode.");
        return FromCodes(q, n, k, mode, scales);
    }

    /// <summary>Packs ternary values q ∈ {−1, 0, 1} ([n, k] row-major) with the given scales (length 1 per tensor, n per row).</summary>
    public static PackedTernaryMatrix FromCodes(ReadOnlySpan<sbyte> q, int n, int k, TernaryScaleMode mode, ReadOnlySpan<float> scales)
    {
        TernaryQuantizer.CheckShape(q.Length, n, k);
        var m = new PackedTernaryMatrix(n, k, mode, CheckScales(mode, scales, n));
        var dst = new Span<byte>(m.Pointer, n * m.RowBytes);
        dst.Fill(0x55); // code 1 (q = 0) in every pair: the padding
        for (int r = 0; r < n; r++)
        {
            var row = dst.Slice(r * m.RowBytes, m.RowBytes);
            for (int c = 0; c < k; c++)
            {
                int v = q[r * k + c];
                if (v < -1 || v > 1) throw new ArgumentException($"q[{r}, {c}] = {v} is not ternary (−1, 0 or 1).", nameof(q));
                var (b, shift) = Locate(c);
                row[b] = (byte)((row[b] & ~(3 << shift)) | ((v + 1) << shift));
            }
        }
        return m;
    }

    /// <summary>Wraps already packed data (the layout above, Rows × PaddedCols/4 bytes, e.g. read from an exported file).</summary>
    public static PackedTernaryMatrix FromPacked(ReadOnlySpan<byte> data, int n, int k, TernaryScaleMode mode, ReadOnlySpan<float> scales)
    {
        var m = new PackedTernaryMatrix(n, k, mode, CheckScales(mode, scales, n));
        TernaryQuantizer.CheckLength(data.Length, n * m.RowBytes, nameof(data));
        data.CopyTo(new Span<byte>(m.Pointer, data.Length));
        return m;
    }

    private static float[] CheckScales(TernaryScaleMode mode, ReadOnlySpan<float> scales, int n)
    {
        int expected = mode switch
        {
            TernaryScaleMode.PerTensor => 1,
            TernaryScaleMode.PerRow => n,
            _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, "Unknown scale mode."),
        };
        if (scales.Length != expected) throw new ArgumentException($"{mode} needs {expected} scale(s), got {scales.Length}.", nameof(scales));
        return scales.ToArray();
    }

    /// <summary>Byte index within a row and bit shift of column <paramref name="c"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static (int Byte, int Shift) Locate(int c)
    {
        int block = c / BlockSize, within = c % BlockSize;
        return (block * BlockBytes + within % 32, 2 * (within / 32));
    }

    /// <summary>The ternary value q ∈ {−1, 0, 1} at (row, col).</summary>
    public int Get(int row, int col)
    {
        if ((uint)row >= (uint)Rows || (uint)col >= (uint)Cols) throw new ArgumentOutOfRangeException(nameof(col), $"({row}, {col}) is outside [{Rows}, {Cols}].");
        var (b, shift) = Locate(col);
        return ((Pointer[(long)row * RowBytes + b] >> shift) & 3) - 1;
    }

    /// <summary>Unpacks the ternary values q ∈ {−1, 0, 1} into a row-major [Rows, Cols] span.</summary>
    public void UnpackCodes(Span<sbyte> q)
    {
        TernaryQuantizer.CheckLength(q.Length, Rows * Cols, nameof(q));
        for (int r = 0; r < Rows; r++)
        {
            byte* row = Pointer + (long)r * RowBytes;
            for (int c = 0; c < Cols; c++)
            {
                var (b, shift) = Locate(c);
                q[r * Cols + c] = (sbyte)(((row[b] >> shift) & 3) - 1);
            }
        }
    }

    /// <summary>The dequantised row-major [Rows, Cols] matrix q · scale.</summary>
    public float[] Unpack()
    {
        var q = new sbyte[Rows * Cols];
        UnpackCodes(q);
        var w = new float[q.Length];
        for (int r = 0; r < Rows; r++)
        {
            float s = Scale(r);
            for (int c = 0; c < Cols; c++) w[r * Cols + c] = q[r * Cols + c] * s;
        }
        return w;
    }
}
