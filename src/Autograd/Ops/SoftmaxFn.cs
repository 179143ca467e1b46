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
