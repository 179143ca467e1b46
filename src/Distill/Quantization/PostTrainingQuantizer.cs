using System.Globalization;
using BitDistill.Autograd;
using BitDistill.Distill.Data;
using BitDistill.Distill.Evaluation;
using BitDistill.Kernels;
using BitDistill.Models;
using BitDistill.Models.BitNet;
using BitDistill.Tensors;

namespace BitDistill.Distill.Quantization;

/// <summary>Applies GPTQ- or AWQ-style ternary calibration (BitDistill.Kernels.TernaryCalibration) post-training to a finished
/// ternary model: collects each BitLinear's input activations on calibration text, re-ternarises every layer, and reports
/// the output error on held-out activations and the perplexity before and after.</summary>
public static class PostTrainingQuantizer
{
    /// <summary>Runs the calibration; the input model is not modified (a calibrated copy is returned in the report).</summary>
    public static CalibrationReport Run(CausalLanguageModel student, CalibrationKind method, TokenDataset calibration, TokenDataset heldOut,
        int seqLen = 64, int maxRows = 2048, PerplexityProtocol? perplexity = null, TextWriter? log = null)
    {
        if (method is not (CalibrationKind.Gptq or CalibrationKind.Awq)) throw new ArgumentException($"calibration method must be GPTQ or AWQ, got {method}");
        var bitnet = BitNetConfig.From(student.Config) ?? throw new InvalidOperationException("the model is not ternary (config.json has no 'bitnet' field); refine it first");
        var layers = Refiner.BitLinears(student).ToArray();
        if (layers.Length == 0) throw new InvalidOperationException("the model has no BitLinear layers");
        var calib = Collect(student, layers, calibration, seqLen, maxRows);
        var held = Collect(student, layers, heldOut, seqLen, maxRows);
        perplexity ??= PerplexityProtocol.Default;
        double before = Perplexity.Compute(student, heldOut, perplexity);

        // a GPTQ-/AWQ-trained student is calibrated from its latent weights like an absmean one (its training statistics are dropped)
        var config = (bitnet with { Calibration = method, WeightQuant = WeightQuantizer.Absmean }).ApplyTo(student.Config);
        var result = ModelRegistry.Create(config);
        result.LoadStateDict(student.StateDict(), strict: false, source: "calibration");
        var target = Refiner.BitLinears(result).ToDictionary(x => x.Name, x => x.Layer);
        var rows = new List<LayerCalibration>();
        foreach (var (name, layer) in layers)
        {
            int n = layer.OutFeatures, k = layer.InFeatures;
            var w = layer.Weight.Value.Contiguous().ToArray<float>();
            var (xc, mc) = calib[name]; var (xh, mh) = held[name];
            var baseline = layer.DequantizedWeight.ToArray();
            TernaryQuantization q; double? alpha = null;
            if (method == CalibrationKind.Gptq) q = TernaryCalibration.Gptq(w, n, k, xc, mc).Weights;
            else { var a = TernaryCalibration.Awq(w, n, k, xc, mc); q = a.Weights; alpha = a.Alpha; }
            double e0 = TernaryCalibration.OutputError(xh, mh, w, baseline, n, k);
            double e1 = TernaryCalibration.OutputError(xh, mh, w, q.Dequantized, n, k);
            target[name].ApplyCalibration(q);
            rows.Add(new LayerCalibration(name, n, k, e0, e1, alpha));
            log?.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {name,-40} [{n}×{k}]  output error absmean {e0:F4} → {method} {e1:F4}{(alpha is { } al ? $" (α = {al:F2})" : "")}"));
        }
        double after = Perplexity.Compute(result, heldOut, perplexity);
        return new CalibrationReport(method, rows, before, after, result);
    }

    // Inputs of every BitLinear (after SubLN), up to maxRows token rows each, from consecutive windows of the data.
    private static Dictionary<string, (float[] x, int m)> Collect(CausalLanguageModel model, (string Name, BitLinear Layer)[] layers, TokenDataset data, int seqLen, int maxRows)
    {
        var rows = layers.ToDictionary(l => l.Name, _ => new List<float>());
        var counts = layers.ToDictionary(l => l.Name, _ => 0);
        foreach (var (name, layer) in layers)
        {
            var list = rows[name]; var key = name; int k = layer.InFeatures;
            layer.InputObserver = t =>
            {
                int m = t.Count / k, take = Math.Min(m, maxRows - counts[key]);
                if (take <= 0) return;
                list.AddRange(t.Contiguous().ToArray<float>().AsSpan(0, take * k).ToArray());
                counts[key] += take;
            };
        }
        try
        {
            using (GradMode.NoGrad())
                foreach (var (x, _) in data.Windows(8, seqLen, Math.Max(1, (maxRows + seqLen - 1) / seqLen)))
                {
                    using var scope = TensorScope.Begin();
                    model.Forward(x);
                }
        }
        finally { foreach (var (_, l) in layers) l.InputObserver = null; }
        return layers.ToDictionary(l => l.Name, l => (rows[l.Name].ToArray(), counts[l.Name]));
    }
}
