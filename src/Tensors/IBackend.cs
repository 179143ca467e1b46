using BitDistill.Kernels;

namespace BitDistill.Tensors;

/// <summary>The operations a device must implement. Inputs may be arbitrary strided views (including
/// broadcast views with zero strides); outputs are new contiguous tensors unless stated otherwise.
/// Float ops take Float32 tensors.</summary>
public partial interface IBackend
{
    /// <summary>The device this backend runs on.</summary>
    Device Device { get; }

    /// <summary>A new storage of <paramref name="length"/> elements, zero-filled.</summary>
    Storage Allocate(DType dtype, int length);

    /// <summary>Copies src into dst elementwise (same shape; either may be strided), converting dtype if they differ
    /// (float→bf16/f16 round to nearest even; float→int truncates toward zero as PyTorch does).</summary>
    void Copy(Tensor src, Tensor dst);

    /// <summary>Sets every element of the (possibly strided) view to value.</summary>
    void Fill(Tensor dst, double value);

    Tensor Unary(UnaryOp op, Tensor x);
    /// <summary>a op b with NumPy broadcasting.</summary>
    Tensor Binary(BinaryOp op, Tensor a, Tensor b);
    /// <summary>x op scalar (scalar on the right), or scalar op x when <paramref name="scalarFirst"/>.</summary>
    Tensor BinaryScalar(BinaryOp op, Tensor x, float scalar, bool scalarFirst);
    /// <summary>Bool tensor of a op b with broadcasting.</summary>
    Tensor Compare(CompareOp op, Tensor a, Tensor b);
    /// <summary>cond ? a : b with broadcasting; cond is Bool.</summary>
    Tensor Where(Tensor cond, Tensor a, Tensor b);

    /// <summary>Reduction over the given (distinct, non-negative) axes.</summary>
    Tensor Reduce(ReduceOp op, Tensor x, int[] axes, bool keepDim);
    /// <summary>Index (Int64) of the first maximum (or minimum) along an axis; NaN counts as the maximum, as PyTorch does.</summary>
    Tensor ArgReduce(bool max, Tensor x, int axis, bool keepDim);

    /// <summary>Numerically stable softmax (or log-softmax) along an axis.</summary>
    Tensor Softmax(Tensor x, int axis, bool log);

    /// <summary>Matrix product over the last two dims with broadcasting of leading dims. An operand whose last two
    /// dims are a transposed contiguous matrix is used in place (no copy).</summary>
    Tensor MatMul(Tensor a, Tensor b);

    /// <summary>Selects entries along an axis by Int32/Int64 indices (embedding lookup is axis 0).</summary>
    Tensor IndexSelect(Tensor x, int axis, Tensor indices);

    /// <summary>Concatenates along an axis.</summary>
    Tensor Concat(IReadOnlyList<Tensor> xs, int axis);

    /// <summary>RMSNorm over the last dim: x / sqrt(mean(x²) + eps) · weight (weight may be null).</summary>
    Tensor RmsNorm(Tensor x, Tensor? weight, float eps);

    /// <summary>Rotary embedding in the rotate-half (Hugging Face) convention on x [..., T, D]: cos/sin are [T, D].
    /// <paramref name="transpose"/> applies the transposed map (the backward).</summary>
    Tensor Rope(Tensor x, Tensor cos, Tensor sin, bool transpose = false);

    /// <summary>zeros(shape) with src's slices added at the given indices along axis (the adjoint of IndexSelect; repeated
    /// indices accumulate, in index order).</summary>
    Tensor IndexAdd(int[] shape, int axis, Tensor indices, Tensor src);

    /// <summary>g·f′(x) for a unary op, fused; y = f(x) (the forward output) is used where the derivative is cheaper from it.</summary>
    Tensor UnaryBackward(UnaryOp op, Tensor x, Tensor y, Tensor g);

    /// <summary>RMSNorm backward over the last dim: dx, and dw = Σ_rows g·x̂ when weight is given.</summary>
    (Tensor dx, Tensor? dw) RmsNormBackward(Tensor x, Tensor? weight, float eps, Tensor g);

    /// <summary>log Σ exp over the last dim (max-shifted): shape x.shape[..^1].</summary>
    Tensor LogSumExp(Tensor x);

    /// <summary>Gradient of cross-entropy on logits [N, C]: scale·(softmax − onehot(target)) per row, zero rows where the
    /// target is ignoreIndex. lse are the rows' log-sum-exp; targets are Int64 [N].</summary>
    Tensor CrossEntropyBackward(Tensor logits, Tensor lse, Tensor targets, long ignoreIndex, float scale);

    /// <summary>SwiGLU: silu(gate)·up for two tensors of one shape.</summary>
    Tensor SwiGlu(Tensor gate, Tensor up) => Binary(BinaryOp.Mul, Unary(UnaryOp.Silu, gate), up);

    /// <summary>SwiGLU backward for two tensors of one shape: (g·up·silu′(gate), g·silu(gate)).</summary>
    (Tensor dgate, Tensor dup) SwiGluBackward(Tensor gate, Tensor up, Tensor g)
    {
        var silu = Unary(UnaryOp.Silu, gate);
        return (UnaryBackward(UnaryOp.Silu, gate, silu, Binary(BinaryOp.Mul, g, up)), Binary(BinaryOp.Mul, g, silu));
    }

    /// <summary>The rows' log-sum-exp and the cross-entropy gradient of <see cref="CrossEntropyBackward"/> in one pass (the
    /// forward of a loss that will be differentiated). Targets are Int64 [N].</summary>
    (Tensor lse, Tensor grad) CrossEntropyWithGrad(Tensor logits, Tensor targets, long ignoreIndex, float scale)
    {
        var lse = LogSumExp(logits);
        return (lse, CrossEntropyBackward(logits, lse, targets, ignoreIndex, scale));
    }
}
