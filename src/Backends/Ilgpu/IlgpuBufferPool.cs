using ILGPU;
using ILGPU.Runtime;

namespace BitDistill.Backends.Ilgpu;

/// <summary>Device buffers of one accelerator kept for reuse by byte size: a training step allocates the same sizes every
/// step, and a device allocation (cuMemAlloc) is far slower than a kernel on small tensors. Bounded by
/// <see cref="MaxPooledBytes"/>; beyond it returned buffers are freed.</summary>
internal sealed class IlgpuBufferPool(Accelerator accelerator)
{
    private readonly Dictionary<long, Stack<MemoryBuffer1D<byte, Stride1D.Dense>>> _free = [];
    private readonly object _lock = new();
    private long _pooledBytes;

    /// <summary>Upper bound on bytes kept (a quarter of the accelerator's memory).</summary>
    public long MaxPooledBytes { get; } = Math.Max(64L << 20, accelerator.MemorySize / 4);

    /// <summary>Buffers allocated fresh so far (reuse leaves it unchanged).</summary>
    public long FreshAllocations { get; private set; }

    /// <summary>Bytes currently held for reuse.</summary>
    public long PooledBytes { get { lock (_lock) return _pooledBytes; } }

    /// <summary>A buffer of <paramref name="bytes"/> bytes: a pooled one when there is one, else a new one.</summary>
    public MemoryBuffer1D<byte, Stride1D.Dense> Rent(long bytes)
    {
        lock (_lock)
        {
            if (_free.TryGetValue(bytes, out var stack) && stack.Count > 0)
            {
                _pooledBytes -= bytes;
                return stack.Pop();
            }
            FreshAllocations++;
        }
        return accelerator.Allocate1D<byte>(bytes);
    }

    /// <summary>Keeps a buffer for reuse, or frees it when the pool is full.</summary>
    public void Return(MemoryBuffer1D<byte, Stride1D.Dense> buffer)
    {
        long bytes = buffer.Length;
        lock (_lock)
        {
            if (_pooledBytes + bytes <= MaxPooledBytes)
            {
                if (!_free.TryGetValue(bytes, out var stack)) _free[bytes] = stack = new();
                stack.Push(buffer);
                _pooledBytes += bytes;
                return;
            }
        }
        accelerator.Synchronize(); // launched kernels may still use it
        buffer.Dispose();
    }
}
