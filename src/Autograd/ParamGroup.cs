namespace BitDistill.Autograd;

/// <summary>A set of parameters sharing hyper-parameters (null = the optimizer's default).</summary>
public sealed record ParamGroup(IReadOnlyList<Variable> Params, float? WeightDecay = null, float? LrScale = null);
