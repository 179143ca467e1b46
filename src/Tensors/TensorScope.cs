namespace BitDistill.Tensors;

/// <summary>A region (one training step, one forward pass) whose tensors are allocated from <see cref="BufferPool"/> and
/// returned to it when the scope is disposed. Tensors that must outlive the scope are created under
/// <see cref="Suspend"/> or copied out with <see cref="Tensor.Clone"/> outside it. Reading a released tensor throws.
/// Scopes are per thread and nest.</summary>
public sealed class TensorScope : IDisposable
{
    [ThreadStatic] private static TensorScope? _current;
    private readonly TensorScope? _parent;
    private readonly List<ManagedStorage> _owned = new();
    private readonly List<IScopedStorage> _ownedDevice = new();
    private bool _disposed;

    private TensorScope(TensorScope? parent) { _parent = parent; }

    /// <summary>The innermost active scope on this thread, or null.</summary>
    public static TensorScope? Current => _current;

    /// <summary>Starts a scope on this thread.</summary>
    public static TensorScope Begin() => _current = new TensorScope(_current);

    /// <summary>Number of buffers this scope will return.</summary>
    public int OwnedCount => _owned.Count + _ownedDevice.Count;

    /// <summary>Device backends: makes the active scope (if any) own <paramref name="storage"/>, which then goes back to its
    /// pool when the scope ends. False when no scope is active (the storage is ordinary: the caller keeps it).</summary>
    public static bool Adopt(IScopedStorage storage)
    {
        if (_current is not { } scope) return false;
        scope._ownedDevice.Add(storage);
        return true;
    }

    /// <summary>Allocations inside the returned region are ordinary (not pooled), e.g. optimizer state and gradients.</summary>
    public static IDisposable Suspend()
    {
        var saved = _current;
        _current = null;
        return new Resume(saved);
    }

    private sealed class Resume(TensorScope? saved) : IDisposable
    {
        public void Dispose() => _current = saved;
    }

    /// <summary>A buffer from the pool when a scope is active (zero-filled unless <paramref name="clear"/> is false: the
    /// caller then overwrites every element, so a reused buffer is not cleared first), else a fresh zero-filled array.</summary>
    internal static ManagedStorage Allocate(DType dtype, int length, Device device, bool clear = true)
    {
        var scope = _current;
        if (scope is null || length < 1024) return ManagedStorage.Allocate(dtype, length, device);
        var arr = BufferPool.Rent(dtype, length, out bool fresh);
        if (!fresh && clear) Array.Clear(arr);
        else if (!fresh && PoisonUninitialized) PoisonArray(arr);
        var s = new ManagedStorage(arr, dtype, length, device);
        scope._owned.Add(s);
        return s;
    }

    /// <summary>Tests: fill reused buffers handed out without clearing with NaN (floats) or a byte pattern, so an op that
    /// claims to overwrite its whole output but does not is caught.</summary>
    internal static bool PoisonUninitialized { get; set; }

    private static void PoisonArray(Array a)
    {
        if (a is float[] f) f.AsSpan().Fill(float.NaN);
        else System.Runtime.InteropServices.MemoryMarshal.CreateSpan(
            ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(a), System.Buffer.ByteLength(a)).Fill(0xA5);
    }

    /// <summary>Keeps a tensor's storage alive past this scope (it will not return to the pool).</summary>
    public void Keep(Tensor t)
    {
        if (t.Storage is ManagedStorage ms) _owned.Remove(ms);
        else if (t.Storage is IScopedStorage ds) _ownedDevice.Remove(ds);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var s in _owned) { var a = s.Release(); if (a is not null) BufferPool.Return(s.DType, a); }
        _owned.Clear();
        foreach (var s in _ownedDevice) s.ReturnToPool();
        _ownedDevice.Clear();
        if (_current == this) _current = _parent;
    }
}
