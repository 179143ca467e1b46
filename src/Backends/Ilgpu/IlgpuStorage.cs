using BitDistill.Tensors;
using ILGPU;
using ILGPU.Runtime;
using Device = BitDistill.Tensors.Device;

namespace BitDistill.Backends.Ilgpu;

/// <summary>Tensor memory on an ILGPU accelerator: one byte buffer (rounded up to 8 bytes) that kernels view as the
/// dtype's element type. Host code never reads it directly; copies go through the backend's explicit transfers.</summary>
public sealed class IlgpuStorage : Storage
{
    private readonly MemoryBuffer1D<byte, Stride1D.Dense> _buffer;

    internal IlgpuStorage(Accelerator accelerator, DType dtype, int length, Device device)
    {
        DType = dtype; Length = length; Device = device;
        long bytes = Math.Max(8, ((long)length * dtype.SizeOf() + 7) / 8 * 8);
        _buffer = accelerator.Allocate1D<byte>(bytes);
        _buffer.MemSetToZero();
    }

    public override DType DType { get; }
    public override int Length { get; }
    public override Device Device { get; }

    /// <summary>The raw bytes as a kernel argument.</summary>
    internal ArrayView<byte> Raw => _buffer.View;

    /// <summary>The elements as T (T must have the dtype's size).</summary>
    internal ArrayView<T> View<T>() where T : unmanaged => _buffer.View.AsContiguous().Cast<T>();
}
