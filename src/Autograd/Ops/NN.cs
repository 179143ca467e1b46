using BitDistill.Kernels;
using BitDistill.Tensors;

namespace BitDistill.Autograd.Ops;

/// <summary>Softmax and log-softmax along an axis. Softmax: dx = y·(g − Σ g·y); log-softmax: dx = g − eʸ·Σ g.</summary>
[Op("softmax", "log_softmax")]
internal sealed class SoftmaxFn(int axis, bool log, Tensor y) : Function
{
    private Tensor? _y = y;
    public override string Name => log ? "log_softmax" : "softmax";

    public static Variable Apply(Variable x, int axis, bool log)
    {
        axis = x.Value.NormAxis(axis);
        var y = log ? x.Value.LogSoftmax(axis) : x.Value.Softmax(axis);
        return Record(new SoftmaxFn(axis, log, y), y, x);
    }

    protected internal override Tensor?[] Backward(Tensor g, bool[] needs)
    {
        var y = _y!;
        if (log) return [g - y.Exp() * g.Sum(axis, keepDim: true)];
        return [y * (g - (g * y).Sum(axis, keepDim: true))];
    }

    protected override void ReleaseSaved() { _y = null; }
}

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

/// <summary>SwiGLU, fused: y = silu(gate)·up. Saves gate and up (not silu(gate)); dgate = g·up·σ·(1 + gate·(1 − σ)), dup = g·silu(gate).</summary>
[Op("swiglu")]
internal sealed class SwiGluFn(Tensor gate, Tensor up) : Function
{
    private Tensor? _gate = gate, _up = up;

    public static Variable Apply(Variable gate, Variable up)
    {
        if (!gate.Shape.SequenceEqual(up.Shape)) return gate.Silu() * up; // broadcasting: the composite ops
        var y = gate.Value.Backend.SwiGlu(gate.Value, up.Value);
        bool save = Recording(gate, up);
        return Record(new SwiGluFn(save ? gate.Value : null!, save ? up.Value : null!), y, gate, up);
    }

    protected internal override Tensor?[] Backward(Tensor g, bool[] needs)
    {
        var (dgate, dup) = g.Backend.SwiGluBackward(_gate!, _up!, g);
        return [needs[0] ? dgate : null, needs[1] ? dup : null];
    }

    protected override void ReleaseSaved() { _gate = _up = null; }
}

/// <summary>Rotary position embedding (rotate-half) on [..., T, D]; the backward applies the transposed rotation.</summary>
[Op("rope")]
internal sealed class RopeFn(Tensor cos, Tensor sin) : Function
{
    public static Variable Apply(Variable x, Tensor cos, Tensor sin) => Record(new RopeFn(cos, sin), x.Value.Rope(cos, sin), x);
    protected internal override Tensor?[] Backward(Tensor g, bool[] needs) => [g.Rope(cos, sin, transpose: true)];
}

/// <summary>L2 normalisation along an axis: y = x / max(‖x‖, ε) (F.normalize). dx = (g − y·Σ g·y)/‖x‖ where ‖x‖ &gt; ε, else g/ε.</summary>
[Op("l2_normalize")]
internal sealed class L2NormalizeFn(int axis, float eps, Tensor n, Tensor y) : Function
{
    private Tensor? _n = n, _y = y;

    public static Variable Apply(Variable x, int axis, float eps)
    {
        axis = x.Value.NormAxis(axis);
        var n = (x.Value * x.Value).Sum(axis, keepDim: true).Sqrt().Maximum(Tensor.Full([], eps, device: x.Value.Device));
        var y = x.Value / n;
        return Record(new L2NormalizeFn(axis, eps, n, y), y, x);
    }

    protected internal override Tensor?[] Backward(Tensor g, bool[] needs)
    {
        var n = _n!; var y = _y!;
        var clamped = n.Compare(CompareOp.Le, eps);
        var full = (g - y * (g * y).Sum(axis, keepDim: true)) / n;
        return [Tensor.Where(clamped, g / eps, full)];
    }

    protected override void ReleaseSaved() { _n = _y = null; }
}
