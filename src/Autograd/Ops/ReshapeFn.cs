using BitDistill.Tensors;

namespace BitDistill.Autograd.Ops;

/// <summary>Reshape/view (also squeeze, unsqueeze, flatten): the gradient is reshaped back.</summary>
[Op("reshape")]
internal sealed class ReshapeFn(int[] inShape) : Function
{
    public static Variable Apply(Variable x, int[] shape) => Record(new ReshapeFn(x.Value.ShapeArray), x.Value.Reshape(shape), x);
    protected internal override Tensor?[] Backward(Tensor g, bool[] needs) => [g.Reshape(inShape)];
}
