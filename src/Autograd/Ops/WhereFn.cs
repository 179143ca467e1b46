using BitDistill.Tensors;

namespace BitDistill.Autograd.Ops;

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
