namespace BitDistill.Tensors;

/// <summary>Reuses buffers of equal dtype and length. Training steps allocate the same shapes every step, so after the
/// first step every intermediate comes from here and the managed heap stops growing (no large-object churn, no gen-2 GCs).
/// Work whose shapes vary (task batches padded to their longest row, generation) brings new lengths all the time, so the
/// pool is bounded (<see cref="MaxPooledBytes"/>) and, when full, drops the lengths used least recently to make room:
/// the shapes in use now are always pooled, and old ones go back to the GC.</summary>
public static class BufferPool
{
    private sealed class Bucket
    {
        public readonly Stack<Array> Free = new();
        public long LastUse;
    }

    private static readonly Dictionary<(DType, int), Bucket> _free = new();
    private static readonly object _lock = new();
    private static long _pooledBytes;
    private static long _tick;

    /// <summary>Bytes currently held for reuse.</summary>
    public static long PooledBytes => Interlocked.Read(ref _pooledBytes);

    /// <summary>Upper bound on bytes kept for reuse (default: a quarter of the memory available to the process, at most
    /// 8 GB); beyond it the least recently used lengths are dropped.</summary>
    public static long MaxPooledBytes { get; set; } = Math.Min(8L << 30, Math.Max(256L << 20, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 4));

    internal static Array Rent(DType dtype, int length, out bool fresh)
    {
        lock (_lock)
        {
            if (_free.TryGetValue((dtype, length), out var b))
            {
                b.LastUse = ++_tick;
                if (b.Free.Count > 0)
                {
                    _pooledBytes -= (long)length * dtype.SizeOf();
                    fresh = false;
                    return b.Free.Pop();
                }
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
            if (bytes > MaxPooledBytes) return;
            var key = (dtype, a.Length);
            if (_pooledBytes + bytes > MaxPooledBytes) Evict(_pooledBytes + bytes - MaxPooledBytes, key);
            if (_pooledBytes + bytes > MaxPooledBytes) return;
            if (!_free.TryGetValue(key, out var b)) _free[key] = b = new Bucket();
            b.LastUse = ++_tick;
            b.Free.Push(a);
            _pooledBytes += bytes;
        }
    }

    // Drops whole buckets, least recently used first (never <paramref name="keep"/>), until at least `need` bytes are freed.
    private static void Evict(long need, (DType, int) keep)
    {
        foreach (var (key, b) in _free.Where(kv => !kv.Key.Equals(keep)).OrderBy(kv => kv.Value.LastUse).ToArray())
        {
            if (need <= 0) break;
            long bytes = (long)b.Free.Count * key.Item2 * key.Item1.SizeOf();
            _free.Remove(key);
            _pooledBytes -= bytes;
            need -= bytes;
        }
    }

    /// <summary>Drops every pooled buffer.</summary>
    public static void Clear()
    {
        lock (_lock) { _free.Clear(); _pooledBytes = 0; }
    }
}
