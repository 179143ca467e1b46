using System.Globalization;
using BitDistill.Autograd;
using BitDistill.Distill.Data;
using BitDistill.Distill.Evaluation;
using BitDistill.Distill.Training;
using BitDistill.Kernels;
using BitDistill.Models;
using BitDistill.Models.BitNet;
using BitDistill.Models.Qwen;
using BitDistill.Tensors;

namespace BitDistill.Distill.Quantization;

/// <summary>One layer's result: relative output error ‖XWᵀ − XŴᵀ‖/‖XWᵀ‖ on held-out activations, for the absmean
/// ternarisation the layer used before and for the calibrated one.</summary>
public sealed record LayerCalibration(string Layer, int Rows, int Cols, double AbsmeanError, double CalibratedError, double? Alpha);
