using BitDistill.Tensors;

namespace BitDistill.Autograd.Ops;

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
