namespace BitDistill.Tensors;

/// <summary>The composite reference of <see cref="IBackend.LinearCrossEntropyWithDistillation"/>: the two separate fused
/// ops (cross-entropy, and logits distillation over the rows with a target) and the weighted sum of their gradients.</summary>
internal static class LinearCrossEntropyWithDistillationReference
{
    public static LinearCrossEntropyWithDistillationResult Compute(IBackend backend, Tensor hidden, Tensor weight, Tensor targets, long ignoreIndex,
        int validCount, Tensor teacherHidden, Tensor teacherWeight, float tau, float logitsWeight, bool withGrad)
    {
        var t = targets.To(DType.Int64).Contiguous().ToArray<long>();
        var keep = new float[t.Length];
        for (int i = 0; i < t.Length; i++) keep[i] = t[i] == ignoreIndex ? 0 : 1;
        var ce = backend.LinearCrossEntropy(hidden, weight, targets, ignoreIndex, validCount, withGrad);
        var ld = backend.LinearKlDistillation(hidden, weight, teacherHidden, teacherWeight, Tensor.FromArray(keep, [t.Length], hidden.Device), tau, withGrad);
        if (!withGrad) return new LinearCrossEntropyWithDistillationResult(ce.Loss, ld.Loss, null, null);
        return new LinearCrossEntropyWithDistillationResult(ce.Loss, ld.Loss,
            ce.HiddenGrad! + ld.StudentHiddenGrad! * logitsWeight, ce.WeightGrad! + ld.StudentWeightGrad! * logitsWeight);
    }
}
