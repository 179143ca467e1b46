using BitDistill.Tensors;

namespace BitDistill.Autograd.Ops;

/// <summary>Reshape/view (also squeeze, unsqueeze, flatten): the gradient is reshaped back.</summary>
[Op("reshape")]
internal sealed class ReshapeFn(int[] inShape) : Function
{
    public static Variable Apply(Variable x, int[] shape) => Record(new ReshapeFn(x.Value.ShapeArray), x.Value.Reshape(shape), x);
    protected internal override Tensor?[] Backward(Tensor g, bool[] needs) => [g.Reshape(inShape)];
}

/// <summary>Permutation of dims (also transpose): the gradient is permuted back.</summary>
[Op("permute")]
internal sealed class PermuteFn(int[] dims) : Function
{
    public static Variable Apply(Variable x, int[] dims) => Record(new PermuteFn(dims), x.Value.Permute(dims), x);
    protected internal override Tensor?[] Backward(Tensor g, bool[] needs)
    {
        var inv = new int[dims.Length];
        for (int i = 0; i < dims.Length; i++) inv[x(dims[i], dims.Length)] = i;
        return [g.Permute(inv)];
        static int x(int d, int n) => d < 0 ? d + n : d;
    }
}

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

/// <summary>Broadcast to a larger shape: the gradient is summed back.</summary>
[Op("expand")]
internal sealed class ExpandFn(int[] inShape) : Function
{
    public static Variable Apply(Variable x, int[] shape) => Record(new ExpandFn(x.Value.ShapeArray), x.Value.Expand(shape), x);
    protected internal override Tensor?[] Backward(Tensor g, bool[] needs) => [g.SumTo(inShape)];
}

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

/// <summary>Selection by integer indices along an axis (embedding lookup on axis 0): the gradient scatter-adds.</summary>
[Op("index_select", "embedding")]
internal sealed class IndexSelectFn(int[] inShape, int axis, Tensor indices) : Function
{
    public override string Name => axis == 0 ? "embedding" : "index_select";
    public static Variable Apply(Variable x, int axis, Tensor indices)
    {
        axis = x.Value.NormAxis(axis);
        return Record(new IndexSelectFn(x.Value.ShapeArray, axis, indices), x.Value.IndexSelect(axis, indices), x);
    }

    protected internal override Tensor?[] Backward(Tensor g, bool[] needs) => [g.IndexAddInto(inShape, axis, indices)];
}

/// <summary>cond ? a : b with broadcasting (also masked fill): each side gets the gradient where it was chosen.</summary>
[Op("where", "masked_fill")]
internal sealed class WhereFn(Tensor cond, int[] aShape, int[] bShape) : Function
{
    public static Variable Apply(Tensor cond, Variable a, Variable b) =>
        Record(new WhereFn(cond, a.Value.ShapeArray, b.Value.ShapeArray), Tensor.Where(cond, a.Value, b.Value), a, b);

    protected internal override Tensor?[] Backward(Tensor g, bool[] needs)
    {
        var zero = Tensor.Zeros([], DType.Float32, g.Device);
        return [needs[0] ? Tensor.Where(cond, g, zero).SumTo(aShape) : null, needs[1] ? Tensor.Where(cond, zero, g).SumTo(bShape) : null];
    }
}
