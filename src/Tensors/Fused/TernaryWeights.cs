using BitDistill.Kernels;

namespace BitDistill.Tensors;

/// <summary>A weight matrix [n, k] ternarised, held on the weight's device: its codes (Int8 [n, k], −1/0/+1), scales (Float32:
/// [1] per tensor, [n] per row, [n × groups] per group), the dequantised weights codes·scale (Float32 [n, k]), and the packed
/// 2-bit matrix the CPU kernels and the exporter use (null for per-group scales, which compute on the dequantised float
/// weights). A device backend need not pack: <see cref="Packed"/> then packs a host copy of the codes on first use. The
/// tensors live outside any TensorScope and are never modified: a new ternarisation makes a new instance.</summary>
public sealed class TernaryWeights
{
    private PackedTernaryMatrix? _packed;
    private readonly bool _packable;

    /// <summary>Ternarised weights; <paramref name="packed"/> may be null for a packable (per-tensor or per-row) matrix whose
    /// backend computes from the codes, and must be null for per-group scales (<paramref name="packable"/> false).</summary>
    public TernaryWeights(Tensor codes, Tensor scales, Tensor dequantized, PackedTernaryMatrix? packed, bool packable = true)
    {
        if (codes.Rank != 2 || codes.DType != DType.Int8) throw new ArgumentException($"ternary codes must be Int8 [n, k], got {codes.DType} {Tensor.ShapeString(codes.Shape)}", nameof(codes));
        if (packed is not null && !packable) throw new ArgumentException("per-group ternary weights have no packed form", nameof(packed));
        Codes = codes; Scales = scales; Dequantized = dequantized; _packed = packed; _packable = packable;
    }

    /// <summary>Codes −1/0/+1, Int8 [n, k].</summary>
    public Tensor Codes { get; }
    /// <summary>Scales, Float32: [1] per tensor, [n] per row, [n × groups] per group.</summary>
    public Tensor Scales { get; }
    /// <summary>codes·scale, Float32 [n, k].</summary>
    public Tensor Dequantized { get; }

    /// <summary>The packed 2-bit matrix (per tensor when there is one scale, else per row), or null for per-group scales.</summary>
    public PackedTernaryMatrix? Packed => _packed ??= _packable
        ? PackedTernaryMatrix.FromCodes(Codes.ToArray<sbyte>(), Codes.Size(0), Codes.Size(1),
            Scales.Count == 1 ? TernaryScaleMode.PerTensor : TernaryScaleMode.PerRow, Scales.ToArray<float>())
        : null;

    /// <summary>Shares of −1, 0 and +1 among the codes (a diagnostic: one host copy of the codes).</summary>
    public (double Minus, double Zero, double Plus) Shares()
    {
        var codes = Codes.ToArray<sbyte>();
        long m = 0, z = 0, p = 0;
        foreach (var c in codes) { if (c < 0) m++; else if (c == 0) z++; else p++; }
        double n = Math.Max(1, codes.Length);
        return (m / n, z / n, p / n);
    }

    /// <summary>Share of codes that differ from <paramref name="previous"/>'s (the flip rate between two ternarisations of one
    /// matrix; a diagnostic: host copies of both).</summary>
    public double ChangedShare(TernaryWeights previous)
    {
        ArgumentNullException.ThrowIfNull(previous);
        if (!previous.Codes.ShapeArray.SequenceEqual(Codes.ShapeArray))
            throw new ArgumentException($"codes {Tensor.ShapeString(previous.Codes.Shape)} cannot be compared with {Tensor.ShapeString(Codes.Shape)}", nameof(previous));
        var a = Codes.ToArray<sbyte>(); var b = previous.Codes.ToArray<sbyte>();
        long changed = 0;
        for (int i = 0; i < a.Length; i++) if (a[i] != b[i]) changed++;
        return a.Length == 0 ? 0 : (double)changed / a.Length;
    }
}
