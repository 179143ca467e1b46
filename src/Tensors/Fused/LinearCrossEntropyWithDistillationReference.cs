using BitDistill.Kernels;

namespace BitDistill.Tensors;

/// <summary>The composite reference of <see cref="IBackend.LinearCrossEntropyWithDistillation"/>: the two separate fused
/// ops (cross-entropy, and logits distillation over the rows with a target) and the weighted sum of their gradients.</summary>
internal static class LinearCrossEntropyWithDistillationReference
{
    public static LinearCrossEntropyWithDistillationResult Compute(IBackend backend, Tensor hidden, Tensor weight, Tensor targets, long ignoreIndex,
        int validCount, Tensor teacherHidden, Tensor teacherWeight, float tau, float logitsWeight, bool withGrad)
    {
        // the rows with a target, found where the targets live (targets and ignoreIndex are exact in float32: |t| < 2²⁴)
        var t = targets.Device == hidden.Device ? targets : targets.To(hidden.Device);
        var keep = t.To(DType.Float32).Compare(CompareOp.Ne, (float)ignoreIndex).To(DType.Float32);
        var ce = backend.LinearCrossEntropy(hidden, weight, targets, ignoreIndex, validCount, withGrad);
        var ld = backend.LinearKlDistillation(hidden, weight, teacherHidden, teacherWeight, keep, tau, withGrad);
        if (!withGrad) return new LinearCrossEntropyWithDistillationResult(ce.Loss, ld.Loss, null, null);
        return new LinearCrossEntropyWithDistillationResult(ce.Loss, ld.Loss,
            ce.HiddenGrad! + ld.StudentHiddenGrad! * logitsWeight, ce.WeightGrad! + ld.StudentWeightGrad! * logitsWeight);
    }
}
