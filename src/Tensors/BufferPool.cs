namespace BitDistill.Tensors;

/// <summary>Reuses buffers of equal dtype and length. Training steps allocate the same shapes every step, so after the
/// first step every intermediate comes from here and the managed heap stops growing (no large-object churn, no gen-2 GCs).</summary>
public static class BufferPool
{
    private static readonly Dictionary<(DType, int), Stack<Array>> _free = new();
    private static readonly object _lock = new();
    private static long _pooledBytes;

    /// <summary>Bytes currently held for reuse.</summary>
    public static long PooledBytes => Interlocked.Read(ref _pooledBytes);

    /// <summary>Upper bound on bytes kept for reuse; buffers beyond it are left to the GC.</summary>
    public static long MaxPooledBytes { get; set; } = 8L << 30;

    internal static Array Rent(DType dtype, int length, out bool fresh)
    {
        lock (_lock)
        {
            if (_free.TryGetValue((dtype, length), out var st) && st.Count > 0)
            {
                _pooledBytes -= (long)length * dtype.SizeOf();
                fresh = false;
                return st.Pop();
            }
        }
        fresh = true;
        return Array.CreateInstance(dtype.ClrType(), length);
    }

    internal static void Return(DType dtype, Array a)
    {
        long bytes = (long)a.Length * dtype.SizeOf();
        lock (_lock)
        {
            if (_pooledBytes + bytes > MaxPooledBytes) return;
            if (!_free.TryGetValue((dtype, a.Length), out var st)) _free[(dtype, a.Length)] = st = new Stack<Array>();
            st.Push(a);
            _pooledBytes += bytes;
        }
    }

    /// <summary>Drops every pooled buffer.</summary>
    public static void Clear()
    {
        lock (_lock) { _free.Clear(); _pooledBytes = 0; }
    }
}
