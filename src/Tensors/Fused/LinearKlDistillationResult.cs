namespace BitDistill.Tensors;

/// <summary>The result of <see cref="IBackend.LinearKlDistillation"/>: the loss τ²·mean KL over the kept rows (0 when no
/// row is kept) and, when gradients were requested, those of the student's hidden states [N, K] and head weight [V, K]
/// for an output gradient of 1 (rows the mask drops get zero gradient).</summary>
public sealed record LinearKlDistillationResult(float Loss, Tensor? StudentHiddenGrad, Tensor? StudentWeightGrad);
