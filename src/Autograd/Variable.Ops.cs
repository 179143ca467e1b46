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

/// <summary>The functional API: every differentiable op of the registry by name.</summary>
public static class F
{
    public static Variable Concat(IReadOnlyList<Variable> xs, int axis) => ConcatFn.Apply(xs, axis);
    public static Variable Stack(IReadOnlyList<Variable> xs, int axis = 0) => Concat(xs.Select(x => x.Unsqueeze(axis)).ToArray(), axis);
    public static Variable Where(Tensor cond, Variable a, Variable b) => WhereFn.Apply(cond, a, b);
    /// <summary>Rows of an embedding table [V, H] for Int32/Int64 ids of any shape.</summary>
    public static Variable Embedding(Variable weight, Tensor ids) => IndexSelectFn.Apply(weight, 0, ids);
    /// <summary>x·Wᵀ (+ b) with W [out, in], as torch.nn.functional.linear (Wᵀ is a view, not a copy).</summary>
    public static Variable Linear(Variable x, Variable weight, Variable? bias = null)
    {
        var y = x.MatMul(weight.T);
        return bias is null ? y : y + bias;
    }
    public static Variable RmsNorm(Variable x, Variable? weight, float eps) => RmsNormFn.Apply(x, weight, eps);
    /// <summary>silu(gate)·up (the SwiGLU MLP's gating), fused into one pass forward and one backward.</summary>
    public static Variable SwiGlu(Variable gate, Variable up) => SwiGluFn.Apply(gate, up);
    public static Variable Rope(Variable x, Tensor cos, Tensor sin) => RopeFn.Apply(x, cos, sin);
    public static Variable L2Normalize(Variable x, int axis = -1, float eps = 1e-12f) => L2NormalizeFn.Apply(x, axis, eps);
    /// <summary>Scaled-dot-product attention: q [B, H, T, D], k/v [B, Hkv, S, D]; optional key padding mask [B, S] (1 = keep).</summary>
    public static Variable Attention(Variable q, Variable k, Variable v, bool causal = true, Tensor? keyPaddingMask = null, float? scale = null)
        => AttentionFn.Apply(q, k, v, causal, keyPaddingMask, scale);
    /// <summary>Mean cross-entropy of logits [N, C] against Int64 targets [N], skipping targets equal to ignoreIndex.</summary>
    public static Variable CrossEntropy(Variable logits, Tensor targets, long ignoreIndex = -100) => CrossEntropyFn.Apply(logits, targets, ignoreIndex);
    /// <summary>CrossEntropy(Linear(hidden, weight), targets) for hidden [N, K] and a bias-free weight [C, K], fused in row blocks
    /// so the [N, C] logits and their gradient are never materialised (a language model's training loss).</summary>
    public static Variable LinearCrossEntropy(Variable hidden, Variable weight, Tensor targets, long ignoreIndex = -100) => LinearCrossEntropyFn.Apply(hidden, weight, targets, ignoreIndex);
    /// <summary>τ²·KL(softmax(teacher/τ) ‖ softmax(student/τ)), batchmean over rows (or over rows where rowMask is 1).</summary>
    public static Variable KlDivWithTemperature(Variable studentLogits, Variable teacherLogits, float tau, Tensor? rowMask = null)
        => KlDivFn.Apply(studentLogits, teacherLogits, tau, rowMask);
}

/// <summary>The list of registered differentiable ops (from the [Op] attributes on Function subclasses).</summary>
public static class OpRegistry
{
    /// <summary>Every registered op name.</summary>
    public static IReadOnlyList<string> Names { get; } = typeof(Function).Assembly.GetTypes()
        .Where(t => t.IsSubclassOf(typeof(Function)))
        .SelectMany(t => t.GetCustomAttributes(typeof(OpAttribute), false).Cast<OpAttribute>().SelectMany(a => a.Names))
        .Order().ToArray();

    /// <summary>Registry names of ops defined in other assemblies (e.g. BitLinear's straight-through estimator).</summary>
    public static IEnumerable<string> NamesIn(System.Reflection.Assembly asm) => asm.GetTypes()
        .Where(t => t.IsSubclassOf(typeof(Function)))
        .SelectMany(t => t.GetCustomAttributes(typeof(OpAttribute), false).Cast<OpAttribute>().SelectMany(a => a.Names));
}
