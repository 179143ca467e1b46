namespace BitDistill.Kernels;

/// <summary>Result of <see cref="TernaryCalibration.Gptq"/>: the weights and their relative output error on the calibration rows.</summary>
public sealed record GptqResult(TernaryQuantization Weights, double CalibrationError);
