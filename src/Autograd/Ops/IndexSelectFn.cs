using BitDistill.Tensors;

namespace BitDistill.Autograd.Ops;

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
