namespace BitDistill.Distill.Objectives;

/// <summary>How attention relations are formed from the split Q/K/V vectors A [B, R, T, d_r].</summary>
public enum RelationKind
{
    /// <summary>softmax(A·Aᵀ/√d_r), as the BitDistill paper and MiniLMv2 write it (the default).</summary>
    ScaledDotProduct,
    /// <summary>softmax(Â·Âᵀ) with Â = A/‖A‖ per token (cosine relations), as the official BitDistill code ("l2norm").</summary>
    L2Normalized,
}
