using BitDistill.Autograd;

namespace BitDistill.Distill.Objectives;

/// <summary>One batch's loss (to differentiate) and its named terms (e.g. ce, ld, ad) as plain numbers for logs.</summary>
public sealed record ObjectiveResult(Variable Loss, IReadOnlyDictionary<string, double> Terms);
