using BitDistill.Models;
using BitDistill.Models.BitNet;

namespace BitDistill.Distill.Quantization;

/// <summary>The outcome of post-training calibration of a ternary model.</summary>
public sealed record CalibrationReport(CalibrationKind Method, IReadOnlyList<LayerCalibration> Layers, double PerplexityBefore, double PerplexityAfter, CausalLanguageModel Model);
