namespace BitDistill.Tensors;

/// <summary>The coefficients of one AdamW update: learning rate, betas, eps, decoupled weight decay, and the bias
/// corrections bc1 = 1 − β₁ᵗ and bc2Sqrt = √(1 − β₂ᵗ).</summary>
public readonly record struct AdamWStep(float Lr, float Beta1, float Beta2, float Eps, float WeightDecay, float Bc1, float Bc2Sqrt);
