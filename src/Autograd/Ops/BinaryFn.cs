using BitDistill.Kernels;
using BitDistill.Tensors;

namespace BitDistill.Autograd.Ops;

/// <summary>Broadcasting binary arithmetic: forward and backward side by side.</summary>
[Op("add", "sub", "mul", "div", "pow", "maximum", "minimum")]
internal sealed class BinaryFn(BinaryOp op, Tensor a, Tensor b, Tensor y) : Function
{
    private Tensor? _a = a, _b = b, _y = y;
    public override string Name => op.ToString().ToLowerInvariant();

    public static Variable Apply(BinaryOp op, Variable a, Variable b)
    {
        var y = a.Value.Apply(op, b.Value);
        bool save = Recording(a, b);
        return Record(new BinaryFn(op, save ? a.Value : null!, save ? b.Value : null!, save && op == BinaryOp.Pow ? y : null!), y, a, b);
    }

    protected internal override Tensor?[] Backward(Tensor g, bool[] needs)
    {
        var a = _a!; var b = _b!;
        Tensor? ga = null, gb = null;
        switch (op)
        {
            case BinaryOp.Add: ga = g; gb = g; break;
            case BinaryOp.Sub: ga = g; gb = needs[1] ? -g : null; break;
            case BinaryOp.Mul: ga = needs[0] ? g * b : null; gb = needs[1] ? g * a : null; break;
            case BinaryOp.Div:
                ga = needs[0] ? g / b : null;
                gb = needs[1] ? -(g * a) / (b * b) : null;
                break;
            case BinaryOp.Pow:
                ga = needs[0] ? g * b * a.Pow(b - 1f) : null;
                gb = needs[1] ? g * _y! * a.Log() : null;
                break;
            case BinaryOp.Maximum:
            case BinaryOp.Minimum:
            {
                // the larger (smaller) input takes the gradient; ties split it evenly, as PyTorch does
                var cmp = op == BinaryOp.Maximum ? CompareOp.Gt : CompareOp.Lt;
                var wa = Tensor.Where(a.Backend.Compare(cmp, a, b), Tensor.Full([], 1.0, device: g.Device),
                    Tensor.Where(a.Eq(b), Tensor.Full([], 0.5, device: g.Device), Tensor.Full([], 0.0, device: g.Device)));
                ga = needs[0] ? g * wa : null;
                gb = needs[1] ? g * (1f - wa) : null;
                break;
            }
        }
        return [ga?.SumTo(a.Shape), gb?.SumTo(b.Shape)];
    }

    protected override void ReleaseSaved() { _a = _b = _y = null; }
}
