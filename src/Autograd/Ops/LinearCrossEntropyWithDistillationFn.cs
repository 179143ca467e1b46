using BitDistill.Tensors;

namespace BitDistill.Autograd.Ops;

/// <summary>CE + λ·LD with both losses on the same student logits h·Wᵀ (the rows with a target), fused by the backend
/// (<see cref="IBackend.LinearCrossEntropyWithDistillation"/>): one logits block and one gradient product per row block
/// instead of one per loss. The output is the weighted sum; the two terms are returned beside it for logging. The forward
/// keeps only dh and dW, which the backward scales by the output gradient.</summary>
[Op("linear_cross_entropy_with_distillation")]
internal sealed class LinearCrossEntropyWithDistillationFn(Tensor? dh, Tensor? dw) : Function
{
    private Tensor? _dh = dh, _dw = dw;

    public static FusedDistillationLoss Apply(Variable hidden, Variable weight, Tensor targets, long ignoreIndex,
        Tensor teacherHidden, Tensor teacherWeight, float tau, float logitsWeight)
    {
        if (hidden.Rank != 2 || weight.Rank != 2 || hidden.Size(1) != weight.Size(1))
            throw new ArgumentException($"linear_cross_entropy_with_distillation expects hidden [N, K] and weight [C, K], got {Tensor.ShapeString(hidden.Shape)} and {Tensor.ShapeString(weight.Shape)}");
        if (!(logitsWeight >= 0) || !float.IsFinite(logitsWeight)) throw new ArgumentException($"linear_cross_entropy_with_distillation: the logits weight must be finite and ≥ 0, got {logitsWeight}");
        int n = hidden.Size(0), c = weight.Size(0);
        if (targets.Count != n) throw new ArgumentException($"linear_cross_entropy_with_distillation: {targets.Count} targets for {n} rows");
        var hv = hidden.Value; var wv = weight.Value;
        var (t, valid) = CrossEntropyTargets.Read(targets, c, ignoreIndex);
        bool recording = Recording(hidden, weight);
        var r = hv.Backend.LinearCrossEntropyWithDistillation(hv, wv, Tensor.FromArray(t, [n], hv.Device), ignoreIndex, valid,
            teacherHidden, teacherWeight, tau, logitsWeight, recording);
        var total = Record(new LinearCrossEntropyWithDistillationFn(r.HiddenGrad, r.WeightGrad),
            Tensor.Scalar(r.CrossEntropy + logitsWeight * r.Distillation, hv.Device), hidden, weight);
        return new FusedDistillationLoss(total, r.CrossEntropy, r.Distillation);
    }

    protected internal override Tensor?[] Backward(Tensor g, bool[] needs)
    {
        float go = g.Item();
        return [needs[0] ? (go == 1f ? _dh! : _dh! * go) : null, needs[1] ? (go == 1f ? _dw! : _dw! * go) : null];
    }

    protected override void ReleaseSaved() { _dh = _dw = null; }
}
