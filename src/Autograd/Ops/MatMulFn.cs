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
                needs[1] ? (b.Rank == 2 && a.Rank > 2 ? SharedWeightGrad(a, b, g) : a.Transpose(-1, -2).MatMul(g).SumTo(b.Shape)) : null];
    }

    // x [..., M, K] · W [K, N] (a linear layer's weight shared by every leading index): dW = Σ xᵀ·g is ONE product over all
    // rows, not a batched product and a reduction. When W is a transposed view (x·Wᵀ of an nn.Linear weight [N, K]), the
    // product is formed as gᵀ·x so the gradient that reaches the [N, K] weight is contiguous.
    private static Tensor SharedWeightGrad(Tensor a, Tensor b, Tensor g)
    {
        int k = b.Shape[0], n = b.Shape[1];
        var a2 = a.Reshape(-1, k); var g2 = g.Reshape(-1, n);
        bool transposedWeight = b.Strides[0] == 1 && b.Strides[1] == k;
        return transposedWeight ? g2.Transpose(0, 1).MatMul(a2).Transpose(0, 1) : a2.Transpose(0, 1).MatMul(g2);
    }

    protected override void ReleaseSaved() { _a = _b = null; }
}
