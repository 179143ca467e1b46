using BitDistill.Tensors;
using ILGPU;
using ILGPU.Runtime;
using Device = BitDistill.Tensors.Device;

namespace BitDistill.Backends.Ilgpu;

/// <summary>Tensor memory on an ILGPU accelerator: one byte buffer (rounded up to 8 bytes) that kernels view as the
/// dtype's element type. Host code never reads it directly; copies go through the backend's explicit transfers. Inside a
/// <see cref="TensorScope"/> the buffer comes from the backend's <see cref="IlgpuBufferPool"/> and goes back to it when the
/// scope ends, so a training step stops allocating device memory after its first run.</summary>
public sealed class IlgpuStorage : Storage, IScopedStorage
{
    private MemoryBuffer1D<byte, Stride1D.Dense>? _buffer;
    private readonly IlgpuBufferPool? _pool;

    internal IlgpuStorage(MemoryBuffer1D<byte, Stride1D.Dense> buffer, DType dtype, int length, Device device, IlgpuBufferPool? pool)
    {
        _buffer = buffer; _pool = pool;
        DType = dtype; Length = length; Device = device;
    }

    /// <summary>Bytes of the buffer for <paramref name="length"/> elements of <paramref name="dtype"/> (at least 8, a multiple of 8).</summary>
    internal static long BufferBytes(DType dtype, int length) => Math.Max(8, ((long)length * dtype.SizeOf() + 7) / 8 * 8);

    public override DType DType { get; }
    public override int Length { get; }
    public override Device Device { get; }

    private MemoryBuffer1D<byte, Stride1D.Dense> Buffer => _buffer ??
        throw new ObjectDisposedException(nameof(IlgpuStorage), "this tensor's device memory was returned to the pool when its TensorScope ended; keep it with TensorScope.Keep or copy it out");

    /// <summary>The raw bytes as a kernel argument.</summary>
    internal ArrayView<byte> Raw => Buffer.View;

    /// <summary>The elements as T (T must have the dtype's size).</summary>
    internal ArrayView<T> View<T>() where T : unmanaged => Buffer.View.AsContiguous().Cast<T>();

    /// <summary>Gives the buffer back to the pool it came from (kernels already launched on it run first: launches and
    /// later reuse share one in-order stream).</summary>
    public void ReturnToPool()
    {
        var b = _buffer;
        _buffer = null;
        if (b is not null) _pool?.Return(b);
    }
}
