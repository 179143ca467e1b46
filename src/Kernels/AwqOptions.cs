namespace BitDistill.Kernels;

/// <summary>Options of the AWQ-style ternary quantiser.</summary>
public sealed record AwqOptions
{
    /// <summary>Number of α values searched, evenly spaced over [0, 1] (21: 0, 0.05, …, 1). α = 0 leaves the input unscaled.</summary>
    public int GridPoints { get; init; } = 21;

    /// <summary>One absmean scale per output row (default) instead of one per tensor.</summary>
    public bool PerRowScale { get; init; } = true;

    /// <summary>For every α, replace the absmean scale of W' by the least-squares one for its codes (as
    /// <see cref="GptqOptions.RefitScale"/>, on the effective weight codes/s), before scoring α. Default on.</summary>
    public bool RefitScale { get; init; } = true;
}
