namespace BitDistill.Tensors;

/// <summary>Backend placeholder (being written).</summary>
public sealed partial class CpuBackend(Device device) : IBackend
{
    public Device Device { get; } = device;
    public Storage Allocate(DType dtype, int length) => ManagedStorage.Allocate(dtype, length, Device);
    public void Copy(Tensor src, Tensor dst) => throw new NotImplementedException();
    public void Fill(Tensor dst, double value) => throw new NotImplementedException();
    public Tensor Unary(UnaryOp op, Tensor x) => throw new NotImplementedException();
    public Tensor Binary(BinaryOp op, Tensor a, Tensor b) => throw new NotImplementedException();
    public Tensor BinaryScalar(BinaryOp op, Tensor x, float scalar, bool scalarFirst) => throw new NotImplementedException();
    public Tensor Compare(CompareOp op, Tensor a, Tensor b) => throw new NotImplementedException();
    public Tensor Where(Tensor cond, Tensor a, Tensor b) => throw new NotImplementedException();
    public Tensor Reduce(ReduceOp op, Tensor x, int[] axes, bool keepDim) => throw new NotImplementedException();
    public Tensor ArgReduce(bool max, Tensor x, int axis, bool keepDim) => throw new NotImplementedException();
    public Tensor Softmax(Tensor x, int axis, bool log) => throw new NotImplementedException();
    public Tensor MatMul(Tensor a, Tensor b) => throw new NotImplementedException();
    public Tensor IndexSelect(Tensor x, int axis, Tensor indices) => throw new NotImplementedException();
    public Tensor Concat(IReadOnlyList<Tensor> xs, int axis) => throw new NotImplementedException();
    public Tensor RmsNorm(Tensor x, Tensor? weight, float eps) => throw new NotImplementedException();
    public Tensor Rope(Tensor x, Tensor cos, Tensor sin) => throw new NotImplementedException();
}
