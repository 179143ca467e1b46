using BitDistill.Kernels;

namespace BitDistill.Tensors;

public sealed partial class Tensor
{
    private static void SameDevice(Tensor a, Tensor b)
    {
        if (a.Device != b.Device) throw new ArgumentException($"tensors on different devices: {a.Device} and {b.Device}");
    }

    // ---- elementwise, broadcasting
    public static Tensor operator +(Tensor a, Tensor b) { SameDevice(a, b); return a.Backend.Binary(BinaryOp.Add, a, b); }
    public static Tensor operator -(Tensor a, Tensor b) { SameDevice(a, b); return a.Backend.Binary(BinaryOp.Sub, a, b); }
    public static Tensor operator *(Tensor a, Tensor b) { SameDevice(a, b); return a.Backend.Binary(BinaryOp.Mul, a, b); }
    public static Tensor operator /(Tensor a, Tensor b) { SameDevice(a, b); return a.Backend.Binary(BinaryOp.Div, a, b); }
    public static Tensor operator +(Tensor a, float s) => a.Backend.BinaryScalar(BinaryOp.Add, a, s, false);
    public static Tensor operator -(Tensor a, float s) => a.Backend.BinaryScalar(BinaryOp.Sub, a, s, false);
    public static Tensor operator *(Tensor a, float s) => a.Backend.BinaryScalar(BinaryOp.Mul, a, s, false);
    public static Tensor operator /(Tensor a, float s) => a.Backend.BinaryScalar(BinaryOp.Div, a, s, false);
    public static Tensor operator +(float s, Tensor a) => a.Backend.BinaryScalar(BinaryOp.Add, a, s, true);
    public static Tensor operator -(float s, Tensor a) => a.Backend.BinaryScalar(BinaryOp.Sub, a, s, true);
    public static Tensor operator *(float s, Tensor a) => a.Backend.BinaryScalar(BinaryOp.Mul, a, s, true);
    public static Tensor operator /(float s, Tensor a) => a.Backend.BinaryScalar(BinaryOp.Div, a, s, true);
    public static Tensor operator -(Tensor a) => a.Backend.Unary(UnaryOp.Neg, a);

    /// <summary>Elementwise binary op with broadcasting.</summary>
    public Tensor Apply(BinaryOp op, Tensor other) { SameDevice(this, other); return Backend.Binary(op, this, other); }
    /// <summary>Elementwise unary op.</summary>
    public Tensor Apply(UnaryOp op) => Backend.Unary(op, this);

    public Tensor Pow(Tensor e) => Apply(BinaryOp.Pow, e);
    public Tensor Pow(float e) => Backend.BinaryScalar(BinaryOp.Pow, this, e, false);
    public Tensor Maximum(Tensor o) => Apply(BinaryOp.Maximum, o);
    public Tensor Minimum(Tensor o) => Apply(BinaryOp.Minimum, o);
    public Tensor Neg() => Apply(UnaryOp.Neg);
    public Tensor Abs() => Apply(UnaryOp.Abs);
    public Tensor Exp() => Apply(UnaryOp.Exp);
    public Tensor Log() => Apply(UnaryOp.Log);
    public Tensor Sqrt() => Apply(UnaryOp.Sqrt);
    public Tensor Rsqrt() => Apply(UnaryOp.Rsqrt);
    public Tensor Tanh() => Apply(UnaryOp.Tanh);
    public Tensor Sigmoid() => Apply(UnaryOp.Sigmoid);
    public Tensor Silu() => Apply(UnaryOp.Silu);
    /// <summary>GELU, tanh approximation (approximate='tanh').</summary>
    public Tensor GeluTanh() => Apply(UnaryOp.GeluTanh);
    /// <summary>GELU, exact erf form.</summary>
    public Tensor Gelu() => Apply(UnaryOp.GeluErf);
    public Tensor Relu() => Apply(UnaryOp.Relu);
    /// <summary>relu(x)² (BitNet b1.58's activation).</summary>
    public Tensor ReluSquared() => Apply(UnaryOp.ReluSquared);
    public Tensor Square() => Apply(UnaryOp.Square);
    public Tensor Sign() => Apply(UnaryOp.Sign);
    public Tensor Erf() => Apply(UnaryOp.Erf);

    // ---- comparisons and selection
    public Tensor Eq(Tensor o) { SameDevice(this, o); return Backend.Compare(CompareOp.Eq, this, o); }
    public Tensor Ne(Tensor o) { SameDevice(this, o); return Backend.Compare(CompareOp.Ne, this, o); }
    public Tensor Lt(Tensor o) { SameDevice(this, o); return Backend.Compare(CompareOp.Lt, this, o); }
    public Tensor Le(Tensor o) { SameDevice(this, o); return Backend.Compare(CompareOp.Le, this, o); }
    public Tensor Gt(Tensor o) { SameDevice(this, o); return Backend.Compare(CompareOp.Gt, this, o); }
    public Tensor Ge(Tensor o) { SameDevice(this, o); return Backend.Compare(CompareOp.Ge, this, o); }
    /// <summary>Comparison against a scalar.</summary>
    public Tensor Compare(CompareOp op, float s) => Backend.Compare(op, this, Full([], s, DType.Float32, Device));

    /// <summary>cond ? a : b, broadcasting all three (cond is Bool).</summary>
    public static Tensor Where(Tensor cond, Tensor a, Tensor b)
    {
        if (cond.DType != DType.Bool) throw new ArgumentException($"where: condition must be Bool, got {cond.DType}");
        SameDevice(cond, a); SameDevice(a, b);
        return a.Backend.Where(cond, a, b);
    }

    /// <summary>A copy with value wherever mask (Bool, broadcast) is true.</summary>
    public Tensor MaskedFill(Tensor mask, float value) => Where(mask, Full([], value, DType.Float32, Device), this);

    // ---- reductions
    private int[] Axes(int[]? axes)
    {
        if (axes is null || axes.Length == 0) return Enumerable.Range(0, Rank).ToArray();
        var a = axes.Select(NormAxis).Distinct().OrderBy(x => x).ToArray();
        if (a.Length != axes.Length) throw new ArgumentException("repeated axis in reduction");
        return a;
    }

    /// <summary>Sum over axes (all when null).</summary>
    public Tensor Sum(int[]? axes = null, bool keepDim = false) => Backend.Reduce(ReduceOp.Sum, this, Axes(axes), keepDim);
    public Tensor Sum(int axis, bool keepDim = false) => Sum([axis], keepDim);
    public Tensor Mean(int[]? axes = null, bool keepDim = false) => Backend.Reduce(ReduceOp.Mean, this, Axes(axes), keepDim);
    public Tensor Mean(int axis, bool keepDim = false) => Mean([axis], keepDim);
    public Tensor Max(int[]? axes = null, bool keepDim = false) => Backend.Reduce(ReduceOp.Max, this, Axes(axes), keepDim);
    public Tensor Max(int axis, bool keepDim = false) => Max([axis], keepDim);
    public Tensor Min(int[]? axes = null, bool keepDim = false) => Backend.Reduce(ReduceOp.Min, this, Axes(axes), keepDim);
    public Tensor Min(int axis, bool keepDim = false) => Min([axis], keepDim);
    /// <summary>Index (Int64) of the maximum along an axis.</summary>
    public Tensor ArgMax(int axis = -1, bool keepDim = false) => Backend.ArgReduce(true, this, NormAxis(axis), keepDim);
    public Tensor ArgMin(int axis = -1, bool keepDim = false) => Backend.ArgReduce(false, this, NormAxis(axis), keepDim);

    public Tensor Softmax(int axis = -1) => Backend.Softmax(this, NormAxis(axis), false);
    public Tensor LogSoftmax(int axis = -1) => Backend.Softmax(this, NormAxis(axis), true);

    // ---- linear algebra
    /// <summary>Matrix product over the last two dims with broadcast batch dims; transposed views are used without copying.</summary>
    public Tensor MatMul(Tensor other) { SameDevice(this, other); return Backend.MatMul(this, other); }

    // ---- indexing
    /// <summary>Entries along an axis picked by Int32/Int64 indices of any shape (NumPy take).</summary>
    public Tensor IndexSelect(int axis, Tensor indices)
    {
        SameDevice(this, indices);
        return Backend.IndexSelect(this, NormAxis(axis), indices);
    }

    /// <summary>Rows of an embedding table [V, H] for ids of any shape → [..., H].</summary>
    public Tensor Embedding(Tensor ids) => IndexSelect(0, ids);

    /// <summary>Concatenation along an axis.</summary>
    public static Tensor Concat(IReadOnlyList<Tensor> xs, int axis)
    {
        if (xs.Count == 0) throw new ArgumentException("concat of no tensors");
        int ax = xs[0].NormAxis(axis);
        foreach (var t in xs)
        {
            SameDevice(xs[0], t);
            if (t.Rank != xs[0].Rank || t.DType != xs[0].DType) throw new ArgumentException("concat needs tensors of one rank and dtype");
            for (int d = 0; d < t.Rank; d++)
                if (d != ax && t.Shape[d] != xs[0].Shape[d]) throw new ArgumentException($"concat along {ax}: shapes {ShapeString(xs[0].Shape)} and {ShapeString(t.Shape)} differ in dim {d}");
        }
        return xs[0].Backend.Concat(xs, ax);
    }

    /// <summary>Stacks equal-shaped tensors along a new axis.</summary>
    public static Tensor Stack(IReadOnlyList<Tensor> xs, int axis = 0)
    {
        if (xs.Count == 0) throw new ArgumentException("stack of no tensors");
        int ax = axis < 0 ? axis + xs[0].Rank + 1 : axis;
        return Concat(xs.Select(t => t.Unsqueeze(ax)).ToArray(), ax);
    }

    /// <summary>Splits along an axis into pieces of the given sizes (views).</summary>
    public Tensor[] Split(int axis, params int[] sizes)
    {
        axis = NormAxis(axis);
        if (sizes.Sum() != Shape[axis]) throw new ArgumentException($"split sizes sum to {sizes.Sum()} but dim {axis} is {Shape[axis]}");
        var r = new Tensor[sizes.Length];
        int s = 0;
        for (int i = 0; i < sizes.Length; i++) { r[i] = Narrow(axis, s, sizes[i]); s += sizes[i]; }
        return r;
    }

    /// <summary>Splits into n equal pieces along an axis (views).</summary>
    public Tensor[] Chunk(int n, int axis)
    {
        int d = Size(axis);
        if (d % n != 0) throw new ArgumentException($"dim {axis} of size {d} does not split into {n} equal chunks");
        return Split(axis, Enumerable.Repeat(d / n, n).ToArray());
    }

    // ---- fused
    /// <summary>RMSNorm over the last dim (weight may be null).</summary>
    public Tensor RmsNorm(Tensor? weight, float eps)
    {
        if (weight is not null && (weight.Rank != 1 || weight.Shape[0] != Shape[^1]))
            throw new ArgumentException($"rms_norm weight must be [{Shape[^1]}], got {ShapeString(weight.Shape)}");
        return Backend.RmsNorm(this, weight, eps);
    }

    /// <summary>Rotary embedding (rotate-half) on [..., T, D] with cos/sin [T, D].</summary>
    public Tensor Rope(Tensor cos, Tensor sin, bool transpose = false) => Backend.Rope(this, cos, sin, transpose);

    /// <summary>zeros(shape) with this tensor's slices added at indices along axis (the adjoint of IndexSelect).</summary>
    public Tensor IndexAddInto(int[] shape, int axis, Tensor indices)
    {
        axis = axis < 0 ? axis + shape.Length : axis;
        return Backend.IndexAdd(shape, axis, indices, this);
    }
}

public sealed partial class Tensor
{
    /// <summary>this += alpha·other in place (other broadcast to this shape).</summary>
    public void AddInPlace(Tensor other, float alpha = 1)
    {
        SameDevice(this, other);
        Backend.AddInPlace(this, other, alpha);
    }

    /// <summary>Reduces a broadcast gradient back to <paramref name="shape"/> by summing the broadcast dims.</summary>
    public Tensor SumTo(ReadOnlySpan<int> shape)
    {
        if (Shape.SequenceEqual(shape)) return this;
        int lead = Rank - shape.Length;
        if (lead < 0) throw new ArgumentException($"cannot sum shape {ShapeString(Shape)} to larger shape {ShapeString(shape)}");
        var axes = new List<int>();
        for (int i = 0; i < Rank; i++)
            if (i < lead || (shape[i - lead] == 1 && Shape[i] != 1)) axes.Add(i);
        var r = axes.Count > 0 ? Sum(axes.ToArray(), keepDim: true) : this;
        return r.Reshape(shape.ToArray());
    }
}
