using BitDistill.Kernels;

namespace BitDistill.Tensors;

/// <summary>A weight matrix [n, k] ternarised, held on the weight's device: its codes (Int8 [n, k], −1/0/+1), scales (Float32:
/// [1] per tensor, [n] per row, [n × groups] per group), the dequantised weights codes·scale (Float32 [n, k]), and the packed
/// 2-bit matrix the ternary kernels use (null for per-group scales, which compute on the dequantised float weights). The
/// tensors live outside any TensorScope and are never modified: a new ternarisation makes a new instance.</summary>
public sealed record TernaryWeights(Tensor Codes, Tensor Scales, Tensor Dequantized, PackedTernaryMatrix? Packed)
{
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
