namespace BitDistill.Kernels;

/// <summary>Options of the GPTQ-style ternary quantiser.</summary>
public sealed record GptqOptions
{
    /// <summary>Damping λ: λ·mean(diag H) is added to the diagonal of H (GPTQ's percdamp).</summary>
    public double Damping { get; init; } = 0.01;

    /// <summary>Columns per lazy-batch block (GPTQ's blocksize); the result does not depend on it.</summary>
    public int BlockSize { get; init; } = 128;

    /// <summary>One absmean scale per output row (default) instead of one per tensor.</summary>
    public bool PerRowScale { get; init; } = true;

    /// <summary>After quantisation (default on), replace each scale by the least-squares one for the fixed codes:
    /// s = argmin ‖X(w − s·q)‖² = qᵀGw / qᵀGq with G = XᵀX (numerator and denominator summed over rows for a per-tensor
    /// scale). Off: the absmean scale of the original W is kept.</summary>
    public bool RefitScale { get; init; } = true;

    /// <summary>Process columns in order of decreasing diag H (GPTQ's act_order / "desc_act").</summary>
    public bool ActOrder { get; init; }
}
