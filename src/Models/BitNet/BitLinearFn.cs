using BitDistill.Autograd;
using BitDistill.Tensors;

namespace BitDistill.Models.BitNet;

/// <summary>BitLinear's product with the straight-through estimator: forward = the backend's activation quantiser and
/// ternary×INT8 product (or, during quantisation warm-up or with per-group scales, the fake-quantised float product);
/// backward: dx = g·Ŵ, dW = gᵀ·X̂ — the gradient of the identity path through both quantisers (with AWQ in training, where
/// the quantised weight is W·diag(s), dW = gᵀ·X̂·diag(s)).</summary>
[Op("bitlinear")]
internal sealed class BitLinearFn(BitLinear layer, QuantizedActivations? xq, Tensor? xEff, Tensor wEff, Tensor? inputScale, int[] inShape) : Function
{
    private QuantizedActivations? _xq = xq;
    private Tensor? _xEff = xEff, _wEff = wEff;

    public static Variable Apply(BitLinear layer, Variable x)
    {
        int k = layer.InFeatures, n = layer.OutFeatures;
        if (x.Shape[^1] != k) throw new ArgumentException($"BitLinear expects inputs [..., {k}], got {Tensor.ShapeString(x.Shape)}");
        var xs = x.Value.Contiguous();
        int m = xs.Count / k;
        var outShape = x.Value.ShapeArray; outShape[^1] = n;
        var x2 = xs.Reshape(m, k);
        var backend = xs.Backend;
        var xq = backend.QuantizeActivations(x2);
        float lambda = layer.QuantizationStrength;
        bool exact = lambda >= 1f && (layer.ScaleMode != WeightScaleMode.PerGroup || layer.Calibration != CalibrationKind.None);
        Tensor? xEff = null; Tensor wEff = layer.WHat;
        var inputScale = layer.TrainingInputScale;
        Tensor y;
        if (exact) y = backend.TernaryMatMul(xq, layer.Ternary);
        else
        {
            // x_eff = x + λ(x̂ − x), w_eff = w + λ(ŵ − w), y = x_eff·w_effᵀ
            xEff = x2 + (backend.DequantizeActivations(xq) - x2) * lambda;
            if (lambda < 1f)
            {
                // the latent weight in the quantiser's input space: W·diag(s) for AWQ in training
                var w = inputScale is not null ? layer.Weight.Value * inputScale : layer.Weight.Value;
                wEff = w + (layer.WHat - w) * lambda;
            }
            y = xEff.MatMul(wEff.T);
        }
        bool save = Recording(x, layer.Weight);
        return Record(new BitLinearFn(layer, save && xEff is null ? xq : null, save ? xEff : null, wEff, inputScale, x.Value.ShapeArray),
            y.Reshape(outShape), x, layer.Weight);
    }

    protected override Tensor?[] Backward(Tensor g, bool[] needs)
    {
        int n = layer.OutFeatures;
        var g2 = g.Contiguous().Reshape(-1, n);
        Tensor? dx = null, dw = null;
        if (needs[0]) dx = g2.MatMul(_wEff!).Reshape(inShape);
        if (needs[1])
        {
            var xHat = _xEff ?? g.Backend.DequantizeActivations(_xq!);
            dw = g2.T.MatMul(xHat);
            // AWQ in training quantises W' = W·diag(s): dW = dW'·diag(s) (chain rule; the STE passes dW' through the quantiser)
            if (inputScale is not null) dw = dw * inputScale;
        }
        return [dx, dw];
    }

    protected override void ReleaseSaved() { _xq = null; _xEff = null; _wEff = null; }
}
