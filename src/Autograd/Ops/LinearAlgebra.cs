using BitDistill.Tensors;

namespace BitDistill.Autograd.Ops;

/// <summary>Matrix product over the last two dims with broadcast batch dims (covers mm, bmm and transposed operands,
/// which arrive as views and are never copied): dA = G·Bᵀ, dB = Aᵀ·G, summed over broadcast batch dims.</summary>
[Op("matmul")]
internal sealed class MatMulFn(Tensor a, Tensor b) : Function
{
    private Tensor? _a = a, _b = b;

    public static Variable Apply(Variable a, Variable b)
    {
        if (a.Rank < 2 || b.Rank < 2) throw new ArgumentException($"matmul of variables needs rank ≥ 2 (got {Tensor.ShapeString(a.Shape)} and {Tensor.ShapeString(b.Shape)}); unsqueeze vectors first");
        var y = a.Value.MatMul(b.Value);
        bool save = Recording(a, b);
        return Record(new MatMulFn(save ? a.Value : null!, save ? b.Value : null!), y, a, b);
    }

    protected internal override Tensor?[] Backward(Tensor g, bool[] needs)
    {
        var a = _a!; var b = _b!;
        return [needs[0] ? g.MatMul(b.Transpose(-1, -2)).SumTo(a.Shape) : null,
                needs[1] ? a.Transpose(-1, -2).MatMul(g).SumTo(b.Shape) : null];
    }

    protected override void ReleaseSaved() { _a = _b = null; }
}
