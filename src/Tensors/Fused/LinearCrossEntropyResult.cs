namespace BitDistill.Tensors;

/// <summary>The result of <see cref="IBackend.LinearCrossEntropy"/>: the mean loss (NaN when no target is valid) and,
/// when asked for, the gradients of the hidden states [N, K] and of the weight [C, K] for an output gradient of 1.</summary>
public sealed record LinearCrossEntropyResult(float Loss, Tensor? HiddenGrad, Tensor? WeightGrad);
