namespace BitDistill.Tensors;

/// <summary>A GPTQ solve for quantisation-aware training, on the weight's device: the error feedback D = compensated − W
/// [n, k], the refitted per-row output scales [n] and the per-row scales the codes are rounded with [n]. Between solves the
/// layer ternarises (W + D) / rounding scale and dequantises with the output scales.</summary>
public sealed record TernaryGptqSolution(Tensor Feedback, Tensor Scales, Tensor RoundingScales);
