namespace BitDistill.Distill.Quantization;

/// <summary>One layer's result: relative output error ‖XWᵀ − XŴᵀ‖/‖XWᵀ‖ on held-out activations, for the absmean
/// ternarisation the layer used before and for the calibrated one.</summary>
public sealed record LayerCalibration(string Layer, int Rows, int Cols, double AbsmeanError, double CalibratedError, double? Alpha);
