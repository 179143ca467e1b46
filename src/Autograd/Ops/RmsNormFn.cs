using BitDistill.Tensors;

namespace BitDistill.Autograd.Ops;

/// <summary>RMSNorm over the last dim, fused: y = x·r·w with r = 1/√(mean x² + ε).
/// dx = r·(g·w − x̂·mean(g·w·x̂)), dw = Σ_rows g·x̂, with x̂ = x·r recomputed from the saved input.</summary>
[Op("rms_norm", "rms_norm_noweight")]
internal sealed class RmsNormFn(Tensor x, Tensor? w, float eps) : Function
{
    private Tensor? _x = x, _w = w;
    private readonly bool _hasWeight = w is not null;
    public override string Name => _hasWeight ? "rms_norm" : "rms_norm_noweight";

    public static Variable Apply(Variable x, Variable? w, float eps)
    {
        var y = x.Value.RmsNorm(w?.Value, eps);
        return Record(new RmsNormFn(x.Value, w?.Value, eps), y, x, w);
    }

    protected internal override Tensor?[] Backward(Tensor g, bool[] needs)
    {
        var (gx, gw) = g.Backend.RmsNormBackward(_x!, _w, eps, g);
        return [needs[0] ? gx : null, gw];
    }

    protected override void ReleaseSaved() { _x = _w = null; }
}
