using BitDistill.Tensors;

namespace BitDistill.Autograd.Ops;

/// <summary>Concatenation: the gradient is split back into the pieces.</summary>
[Op("concat")]
internal sealed class ConcatFn(int axis, int[] sizes) : Function
{
    public static Variable Apply(IReadOnlyList<Variable> xs, int axis)
    {
        var y = Tensor.Concat(xs.Select(v => v.Value).ToArray(), axis);
        axis = y.NormAxis(axis);
        return Record(new ConcatFn(axis, xs.Select(v => v.Value.Shape[axis]).ToArray()), y, xs.ToArray());
    }

    protected internal override Tensor?[] Backward(Tensor g, bool[] needs) => g.Split(axis, sizes);
}
