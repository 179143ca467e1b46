namespace BitDistill.Kernels;

/// <summary>Result of <see cref="TernaryCalibration.Gptq"/>: the weights and their relative output error on the calibration rows.</summary>
public sealed record GptqResult(TernaryQuantization Weights, double CalibrationError)
{
    /// <summary>[n, k]: the value each code was rounded from — W plus GPTQ's error feedback at the moment its column was
    /// quantised (0 for dead inputs). Ternarising it with <see cref="RoundingScales"/> reproduces the codes; its difference
    /// to W is the correction that quantisation-aware training keeps between solves.</summary>
    public float[] CompensatedWeights { get; init; } = [];

    /// <summary>The absmean scales the codes were rounded with (per row, or one); <see cref="TernaryQuantization.Scales"/>
    /// differ from them when <see cref="GptqOptions.RefitScale"/> refitted the scales to the codes.</summary>
    public float[] RoundingScales { get; init; } = [];
}
