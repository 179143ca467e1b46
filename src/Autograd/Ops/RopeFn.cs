using BitDistill.Tensors;

namespace BitDistill.Autograd.Ops;

/// <summary>Rotary position embedding (rotate-half) on [..., T, D]; the backward applies the transposed rotation.</summary>
[Op("rope")]
internal sealed class RopeFn(Tensor cos, Tensor sin) : Function
{
    public static Variable Apply(Variable x, Tensor cos, Tensor sin) => Record(new RopeFn(cos, sin), x.Value.Rope(cos, sin), x);
    protected internal override Tensor?[] Backward(Tensor g, bool[] needs) => [g.Rope(cos, sin, transpose: true)];
}
