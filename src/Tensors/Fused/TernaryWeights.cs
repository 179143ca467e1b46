using BitDistill.Kernels;

namespace BitDistill.Tensors;

/// <summary>A weight matrix [n, k] ternarised: its codes (−1/0/+1, row-major), scales (1 per tensor, n per row, or n × groups
/// per group), the dequantised weights codes·scale on the host and on the weight's device, and the packed 2-bit matrix the
/// ternary kernels use (null for per-group scales, which compute on the dequantised float weights).</summary>
public sealed record TernaryWeights(sbyte[] Codes, float[] Scales, float[] Dequantized, Tensor DequantizedTensor, PackedTernaryMatrix? Packed);
