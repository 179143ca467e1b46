using BitDistill.Tensors;

namespace BitDistill.Autograd.Ops;

/// <summary>Broadcast to a larger shape: the gradient is summed back.</summary>
[Op("expand")]
internal sealed class ExpandFn(int[] inShape) : Function
{
    public static Variable Apply(Variable x, int[] shape) => Record(new ExpandFn(x.Value.ShapeArray), x.Value.Expand(shape), x);
    protected internal override Tensor?[] Backward(Tensor g, bool[] needs) => [g.SumTo(inShape)];
}
