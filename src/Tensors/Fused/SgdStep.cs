namespace BitDistill.Tensors;

/// <summary>The coefficients of one SGD update (torch.optim.SGD): learning rate, momentum, weight decay added to the
/// gradient, Nesterov.</summary>
public readonly record struct SgdStep(float Lr, float Momentum, float WeightDecay, bool Nesterov);
