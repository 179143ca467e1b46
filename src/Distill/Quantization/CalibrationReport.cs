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

/// <summary>The outcome of post-training calibration of a ternary model.</summary>
public sealed record CalibrationReport(CalibrationKind Method, IReadOnlyList<LayerCalibration> Layers, double PerplexityBefore, double PerplexityAfter, CausalLanguageModel Model);
