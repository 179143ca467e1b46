using BitDistill.Kernels;
using BitDistill.Tensors;

namespace BitDistill.Autograd.Ops;

/// <summary>Elementwise functions of one argument; each derivative is written next to its op.</summary>
[Op("neg", "abs", "exp", "log", "sqrt", "rsqrt", "tanh", "sigmoid", "silu", "gelu_tanh", "gelu_erf", "relu", "relu2", "square")]
internal sealed class UnaryFn(UnaryOp op, Tensor? x, Tensor? y) : Function
{
    private Tensor? _x = x, _y = y;
    public override string Name => op.ToString().ToLowerInvariant();

    public static Variable Apply(UnaryOp op, Variable x)
    {
        if (op is UnaryOp.Sign or UnaryOp.Reciprocal or UnaryOp.Erf && Recording(x))
            throw new NotSupportedException($"{op} has no registered gradient; use 1/x via scalar division");
        var y = x.Value.Apply(op);
        bool save = Recording(x);
        return Record(new UnaryFn(op, save ? x.Value : null, save ? y : null), y, x);
    }

    protected internal override Tensor?[] Backward(Tensor g, bool[] needs) => [g.Backend.UnaryBackward(op, _x!, _y!, g)];

    protected override void ReleaseSaved() { _x = _y = null; }
}
