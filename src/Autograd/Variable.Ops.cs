using BitDistill.Autograd.Ops;
using BitDistill.Kernels;
using BitDistill.Tensors;

namespace BitDistill.Autograd;

public sealed partial class Variable
{
    public static Variable operator +(Variable a, Variable b) => BinaryFn.Apply(BinaryOp.Add, a, b);
    public static Variable operator -(Variable a, Variable b) => BinaryFn.Apply(BinaryOp.Sub, a, b);
    public static Variable operator *(Variable a, Variable b) => BinaryFn.Apply(BinaryOp.Mul, a, b);
    public static Variable operator /(Variable a, Variable b) => BinaryFn.Apply(BinaryOp.Div, a, b);
    public static Variable operator +(Variable a, float s) => ScalarFn.Apply(BinaryOp.Add, a, s, false);
    public static Variable operator -(Variable a, float s) => ScalarFn.Apply(BinaryOp.Sub, a, s, false);
    public static Variable operator *(Variable a, float s) => ScalarFn.Apply(BinaryOp.Mul, a, s, false);
    public static Variable operator /(Variable a, float s) => ScalarFn.Apply(BinaryOp.Div, a, s, false);
    public static Variable operator +(float s, Variable a) => ScalarFn.Apply(BinaryOp.Add, a, s, true);
    public static Variable operator -(float s, Variable a) => ScalarFn.Apply(BinaryOp.Sub, a, s, true);
    public static Variable operator *(float s, Variable a) => ScalarFn.Apply(BinaryOp.Mul, a, s, true);
    public static Variable operator /(float s, Variable a) => ScalarFn.Apply(BinaryOp.Div, a, s, true);
    public static Variable operator -(Variable a) => UnaryFn.Apply(UnaryOp.Neg, a);

    public Variable Pow(Variable e) => BinaryFn.Apply(BinaryOp.Pow, this, e);
    public Variable Pow(float e) => ScalarFn.Apply(BinaryOp.Pow, this, e, false);
    public Variable Maximum(Variable o) => BinaryFn.Apply(BinaryOp.Maximum, this, o);
    public Variable Minimum(Variable o) => BinaryFn.Apply(BinaryOp.Minimum, this, o);
    public Variable Apply(UnaryOp op) => UnaryFn.Apply(op, this);
    public Variable Abs() => Apply(UnaryOp.Abs);
    public Variable Exp() => Apply(UnaryOp.Exp);
    public Variable Log() => Apply(UnaryOp.Log);
    public Variable Sqrt() => Apply(UnaryOp.Sqrt);
    public Variable Rsqrt() => Apply(UnaryOp.Rsqrt);
    public Variable Tanh() => Apply(UnaryOp.Tanh);
    public Variable Sigmoid() => Apply(UnaryOp.Sigmoid);
    public Variable Silu() => Apply(UnaryOp.Silu);
    public Variable GeluTanh() => Apply(UnaryOp.GeluTanh);
    public Variable Gelu() => Apply(UnaryOp.GeluErf);
    public Variable Relu() => Apply(UnaryOp.Relu);
    public Variable ReluSquared() => Apply(UnaryOp.ReluSquared);
    public Variable Square() => Apply(UnaryOp.Square);

    // ---- shape (views in the forward; the backward maps gradients back)
    public Variable Reshape(params int[] shape) => ReshapeFn.Apply(this, shape);
    public Variable View(params int[] shape) => ReshapeFn.Apply(this, shape);
    public Variable Flatten(int start = 0, int end = -1) => ReshapeFn.Apply(this, Value.Flatten(start, end).ShapeArray);
    public Variable Unsqueeze(int axis) => ReshapeFn.Apply(this, Value.Unsqueeze(axis).ShapeArray);
    public Variable Squeeze(int? axis = null) => ReshapeFn.Apply(this, Value.Squeeze(axis).ShapeArray);
    public Variable Permute(params int[] dims) => PermuteFn.Apply(this, dims);
    public Variable Transpose(int d0, int d1)
    {
        var dims = Enumerable.Range(0, Rank).ToArray();
        d0 = Value.NormAxis(d0); d1 = Value.NormAxis(d1);
        (dims[d0], dims[d1]) = (dims[d1], dims[d0]);
        return PermuteFn.Apply(this, dims);
    }
    /// <summary>Transpose of the last two dims.</summary>
    public Variable T => Transpose(-2, -1);
    public Variable Slice(int axis, int start, int end, int step = 1) => SliceFn.Apply(this, axis, start, end, step);
    public Variable Narrow(int axis, int start, int length)
    {
        int a = Value.NormAxis(axis);
        if (start < 0) start += Value.Shape[a];
        return SliceFn.Apply(this, a, start, start + length, 1);
    }
    public Variable Select(int axis, int index) => SliceFn.Select(this, axis, index);
    public Variable Expand(params int[] shape) => ExpandFn.Apply(this, shape);
    public Variable[] Split(int axis, params int[] sizes)
    {
        int s = 0;
        var r = new Variable[sizes.Length];
        for (int i = 0; i < sizes.Length; i++) { r[i] = Narrow(axis, s, sizes[i]); s += sizes[i]; }
        return r;
    }
    public Variable IndexSelect(int axis, Tensor indices) => IndexSelectFn.Apply(this, axis, indices);
    public Variable MaskedFill(Tensor mask, float value) => WhereFn.Apply(mask, Tensor.Full([], value, device: Value.Device), this);

    // ---- reductions
    public Variable Sum(int[]? axes = null, bool keepDim = false) => ReduceFn.Apply(ReduceOp.Sum, this, axes, keepDim);
    public Variable Sum(int axis, bool keepDim = false) => Sum([axis], keepDim);
    public Variable Mean(int[]? axes = null, bool keepDim = false) => ReduceFn.Apply(ReduceOp.Mean, this, axes, keepDim);
    public Variable Mean(int axis, bool keepDim = false) => Mean([axis], keepDim);
    public Variable Max(int[]? axes = null, bool keepDim = false) => ReduceFn.Apply(ReduceOp.Max, this, axes, keepDim);
    public Variable Max(int axis, bool keepDim = false) => Max([axis], keepDim);

    public Variable Softmax(int axis = -1) => SoftmaxFn.Apply(this, axis, false);
    public Variable LogSoftmax(int axis = -1) => SoftmaxFn.Apply(this, axis, true);
    public Variable MatMul(Variable other) => MatMulFn.Apply(this, other);
}
