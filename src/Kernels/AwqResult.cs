namespace BitDistill.Kernels;

/// <summary>Result of <see cref="TernaryCalibration.Awq"/>: the weights, the chosen α, its relative output error on the
/// calibration rows, and the relative error of every α on the grid (α_g = g / (GridPoints − 1)).</summary>
public sealed record AwqResult(TernaryQuantization Weights, double Alpha, double CalibrationError, double[] GridErrors);
