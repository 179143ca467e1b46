using BitDistill.Kernels;
using BitDistill.Tensors;

namespace BitDistill.Autograd.Ops;

/// <summary>A tensor combined with a constant: x+s, x−s, s−x, x·s, x/s, s/x, xˢ.</summary>
[Op("add_scalar", "sub_scalar", "rsub_scalar", "mul_scalar", "div_scalar", "rdiv_scalar", "pow_scalar")]
internal sealed class ScalarFn(BinaryOp op, float s, bool scalarFirst, Tensor? x, Tensor? y) : Function
{
    private Tensor? _x = x, _y = y;
    public override string Name => (scalarFirst ? "r" : "") + op.ToString().ToLowerInvariant() + "_scalar";

    public static Variable Apply(BinaryOp op, Variable x, float s, bool scalarFirst)
    {
        var y = x.Value.Backend.BinaryScalar(op, x.Value, s, scalarFirst);
        bool save = Recording(x) && op is BinaryOp.Pow or BinaryOp.Div;
        return Record(new ScalarFn(op, s, scalarFirst, save ? x.Value : null, save ? y : null), y, x);
    }

    protected internal override Tensor?[] Backward(Tensor g, bool[] needs) => [op switch
    {
        BinaryOp.Add => g,
        BinaryOp.Sub => scalarFirst ? -g : g,
        BinaryOp.Mul => g * s,
        BinaryOp.Div => scalarFirst ? -(g * _y!) / _x! : g / s,
        BinaryOp.Pow when !scalarFirst => g * (s * _x!.Pow(s - 1)),
        BinaryOp.Pow => g * _y! * MathF.Log(s),
        _ => throw new NotSupportedException($"{op} with a scalar"),
    }];

    protected override void ReleaseSaved() { _x = _y = null; }
}
