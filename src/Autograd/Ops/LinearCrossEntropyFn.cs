using BitDistill.Tensors;

namespace BitDistill.Autograd.Ops;

/// <summary>Mean cross-entropy of the logits h·Wᵀ (h [N, K], W [C, K] as an nn.Linear weight without bias) against Int64
/// targets [N], skipping ignoreIndex, fused by the backend (<see cref="IBackend.LinearCrossEntropy"/>: on the CPU the [N, C]
/// logits are never materialised). The forward keeps only dh and dW; the backward scales them by the output gradient. The
/// same loss as <c>CrossEntropy(Linear(h, W), targets)</c> up to float rounding of dW's block sums. For non-float32
/// operands it is that composite.</summary>
[Op("linear_cross_entropy")]
internal sealed class LinearCrossEntropyFn(Tensor? dh, Tensor? dw) : Function
{
    private Tensor? _dh = dh, _dw = dw;

    public static Variable Apply(Variable hidden, Variable weight, Tensor targets, long ignoreIndex)
    {
        if (hidden.Rank != 2 || weight.Rank != 2 || hidden.Size(1) != weight.Size(1))
            throw new ArgumentException($"linear_cross_entropy expects hidden [N, K] and weight [C, K], got {Tensor.ShapeString(hidden.Shape)} and {Tensor.ShapeString(weight.Shape)}");
        int n = hidden.Size(0), k = hidden.Size(1), c = weight.Size(0);
        if (targets.Count != n) throw new ArgumentException($"linear_cross_entropy: {targets.Count} targets for {n} rows");
        var hv = hidden.Value; var wv = weight.Value;
        if (hv.DType != DType.Float32 || wv.DType != DType.Float32 || n == 0 || k == 0)
            return CrossEntropyFn.Apply(hidden.MatMul(weight.T), targets, ignoreIndex);
        var (t, valid) = CrossEntropyTargets.Read(targets, c, ignoreIndex);
        bool recording = Recording(hidden, weight);
        var r = hv.Backend.LinearCrossEntropy(hv, wv, Tensor.FromArray(t, [n], hv.Device), ignoreIndex, valid, recording);
        return Record(new LinearCrossEntropyFn(r.HiddenGrad, r.WeightGrad), Tensor.Scalar(r.Loss, hv.Device), hidden, weight);
    }

    protected internal override Tensor?[] Backward(Tensor g, bool[] needs)
    {
        float go = g.Item();
        return [needs[0] ? (go == 1f ? _dh! : _dh! * go) : null, needs[1] ? (go == 1f ? _dw! : _dw! * go) : null];
    }

    protected override void ReleaseSaved() { _dh = _dw = null; }
}
