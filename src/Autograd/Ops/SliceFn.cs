using BitDistill.Tensors;

namespace BitDistill.Autograd.Ops;

/// <summary>Strided slice start:end:step along an axis (also narrow and select): the gradient is scattered into zeros.</summary>
[Op("slice")]
internal sealed class SliceFn(int[] inShape, int axis, int start, int end, int step, bool squeeze) : Function
{
    public static Variable Apply(Variable x, int axis, int start, int end, int step)
    {
        axis = x.Value.NormAxis(axis);
        return Record(new SliceFn(x.Value.ShapeArray, axis, start, end, step, false), x.Value.Slice(axis, start, end, step), x);
    }

    public static Variable Select(Variable x, int axis, int index)
    {
        axis = x.Value.NormAxis(axis);
        if (index < 0) index += x.Value.Shape[axis];
        return Record(new SliceFn(x.Value.ShapeArray, axis, index, index + 1, 1, true), x.Value.Select(axis, index), x);
    }

    protected internal override Tensor?[] Backward(Tensor g, bool[] needs)
    {
        var z = Tensor.Zeros(inShape, DType.Float32, g.Device);
        z.Slice(axis, start, end, step).CopyFrom(squeeze ? g.Unsqueeze(axis) : g);
        return [z];
    }
}
