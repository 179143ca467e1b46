using BitDistill.Kernels;
using BitDistill.Tensors;

namespace BitDistill.Autograd.Ops;

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
