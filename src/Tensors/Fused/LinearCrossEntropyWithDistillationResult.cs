namespace BitDistill.Tensors;

/// <summary>The result of <see cref="IBackend.LinearCrossEntropyWithDistillation"/>: the cross-entropy (mean over the rows
/// with a target; NaN when there is none), the logits distillation τ²·mean KL over the same rows (0 when there is none)
/// and, when gradients were requested, those of CE + λ·LD for the student's hidden states [N, K] and head weight [V, K]
/// (rows without a target get zero gradient).</summary>
public sealed record LinearCrossEntropyWithDistillationResult(float CrossEntropy, float Distillation, Tensor? HiddenGrad, Tensor? WeightGrad);
