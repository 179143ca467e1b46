using BitDistill.Autograd;
using BitDistill.Tensors;

namespace BitDistill.Models.Layers;

/// <summary>cos/sin tables [T, D] for one forward pass: one shared by the whole batch, or one per batch row.</summary>
public sealed class RotaryTables(IReadOnlyList<Tensor> cos, IReadOnlyList<Tensor> sin)
{
    /// <summary>The cos tables (one, or one per batch row).</summary>
    public IReadOnlyList<Tensor> Cos { get; } = cos;
    /// <summary>The sin tables, paired with <see cref="Cos"/>.</summary>
    public IReadOnlyList<Tensor> Sin { get; } = sin;

    /// <summary>Rotates x [B, H, T, D] (differentiable).</summary>
    public Variable Apply(Variable x)
    {
        if (Cos.Count == 1) return F.Rope(x, Cos[0], Sin[0]);
        if (x.Size(0) != Cos.Count) throw new ArgumentException($"rotary tables are for {Cos.Count} batch rows, input has {x.Size(0)}");
        var parts = new Variable[Cos.Count];
        for (int b = 0; b < parts.Length; b++) parts[b] = F.Rope(x.Narrow(0, b, 1), Cos[b], Sin[b]);
        return F.Concat(parts, 0);
    }
}
