namespace BitDistill.Autograd;

/// <summary>The result of <see cref="F.LinearCrossEntropyWithDistillation"/>: the differentiable total CE + λ·LD, and its two
/// terms' values (for logging; they carry no graph).</summary>
public readonly record struct FusedDistillationLoss(Variable Total, float CrossEntropy, float LogitsDistillation);
