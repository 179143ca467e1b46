using BitDistill.Tensors;

namespace BitDistill.Autograd.Ops;

/// <summary>Sum, mean and max over axes; the gradient is broadcast back (max: to the positions of the maximum, split on ties).</summary>
[Op("sum", "mean", "max")]
internal sealed class ReduceFn(BitDistill.Kernels.ReduceOp op, int[] inShape, int[] axes, Tensor? x, Tensor? y) : Function
{
    private Tensor? _x = x, _y = y;
    public override string Name => op.ToString().ToLowerInvariant();

    public static Variable Apply(BitDistill.Kernels.ReduceOp op, Variable x, int[]? axes, bool keepDim)
    {
        var ax = axes is null || axes.Length == 0 ? Enumerable.Range(0, x.Rank).ToArray() : axes.Select(x.Value.NormAxis).Distinct().Order().ToArray();
        var y = x.Value.Backend.Reduce(op, x.Value, ax, keepDim);
        bool save = Recording(x) && op is BitDistill.Kernels.ReduceOp.Max or BitDistill.Kernels.ReduceOp.Min;
        return Record(new ReduceFn(op, x.Value.ShapeArray, ax, save ? x.Value : null, save ? y : null), y, x);
    }

    protected internal override Tensor?[] Backward(Tensor g, bool[] needs)
    {
        var kept = inShape.Select((d, i) => axes.Contains(i) ? 1 : d).ToArray();
        var gk = g.Reshape(kept);
        switch (op)
        {
            case BitDistill.Kernels.ReduceOp.Sum: return [gk.Expand(inShape)];
            case BitDistill.Kernels.ReduceOp.Mean:
                int n = axes.Aggregate(1, (p, a) => p * inShape[a]);
                return [(gk / n).Expand(inShape)];
            default:
                var mask = _x!.Eq(_y!.Reshape(kept)).To(DType.Float32);
                var count = mask.Sum(axes, keepDim: true);
                return [mask * (gk / count)];
        }
    }

    protected override void ReleaseSaved() { _x = _y = null; }
}
