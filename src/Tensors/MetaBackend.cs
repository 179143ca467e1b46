using BitDistill.Kernels;

namespace BitDistill.Tensors;

/// <summary>The backend of <see cref="Device.Meta"/>: tensors with shapes and no memory, so a model's structure (its
/// parameter names and shapes, for checkpoint checks and parameter counts) can be built at any size without allocating.
/// Allocation, fills and host writes succeed and keep nothing; every computation and read refuses.</summary>
public sealed class MetaBackend(Device device) : IBackend
{
    /// <inheritdoc/>
    public Device Device { get; } = device;

    private static NotSupportedException Refuse() => new("meta tensors have shapes but no values: build the model on a real device to compute");

    /// <inheritdoc/>
    public Storage Allocate(DType dtype, int length) => new MetaStorage(dtype, length, Device);
    /// <inheritdoc/>
    public void CopyFromHost(ReadOnlySpan<byte> src, Tensor dst) { }
    /// <inheritdoc/>
    public void CopyToHost(Tensor src, Span<byte> dst) => throw Refuse();
    /// <inheritdoc/>
    public void Copy(Tensor src, Tensor dst) { if (!src.Shape.SequenceEqual(dst.Shape)) throw new ArgumentException("copy shapes differ"); }
    /// <inheritdoc/>
    public void Fill(Tensor dst, double value) { }
    /// <inheritdoc/>
    public Tensor Unary(UnaryOp op, Tensor x) => throw Refuse();
    /// <inheritdoc/>
    public Tensor Binary(BinaryOp op, Tensor a, Tensor b) => throw Refuse();
    /// <inheritdoc/>
    public Tensor BinaryScalar(BinaryOp op, Tensor x, float scalar, bool scalarFirst) => throw Refuse();
    /// <inheritdoc/>
    public Tensor Compare(CompareOp op, Tensor a, Tensor b) => throw Refuse();
    /// <inheritdoc/>
    public Tensor Where(Tensor cond, Tensor a, Tensor b) => throw Refuse();
    /// <inheritdoc/>
    public Tensor Reduce(ReduceOp op, Tensor x, int[] axes, bool keepDim) => throw Refuse();
    /// <inheritdoc/>
    public Tensor ArgReduce(bool max, Tensor x, int axis, bool keepDim) => throw Refuse();
    /// <inheritdoc/>
    public Tensor Softmax(Tensor x, int axis, bool log) => throw Refuse();
    /// <inheritdoc/>
    public Tensor MatMul(Tensor a, Tensor b) => throw Refuse();
    /// <inheritdoc/>
    public Tensor IndexSelect(Tensor x, int axis, Tensor indices) => throw Refuse();
    /// <inheritdoc/>
    public Tensor Concat(IReadOnlyList<Tensor> xs, int axis) => throw Refuse();
    /// <inheritdoc/>
    public Tensor RmsNorm(Tensor x, Tensor? weight, float eps) => throw Refuse();
    /// <inheritdoc/>
    public Tensor Rope(Tensor x, Tensor cos, Tensor sin, bool transpose = false) => throw Refuse();
    /// <inheritdoc/>
    public Tensor IndexAdd(int[] shape, int axis, Tensor indices, Tensor src) => throw Refuse();
    /// <inheritdoc/>
    public Tensor UnaryBackward(UnaryOp op, Tensor x, Tensor y, Tensor g) => throw Refuse();
    /// <inheritdoc/>
    public (Tensor dx, Tensor? dw) RmsNormBackward(Tensor x, Tensor? weight, float eps, Tensor g) => throw Refuse();
    /// <inheritdoc/>
    public Tensor LogSumExp(Tensor x) => throw Refuse();
    /// <inheritdoc/>
    public Tensor CrossEntropyBackward(Tensor logits, Tensor lse, Tensor targets, long ignoreIndex, float scale) => throw Refuse();
}
