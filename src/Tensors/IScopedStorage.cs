namespace BitDistill.Tensors;

/// <summary>Device memory a <see cref="TensorScope"/> owns: handed back to its backend's pool when the scope ends (the
/// device counterpart of the managed buffers of <see cref="BufferPool"/>).</summary>
public interface IScopedStorage
{
    /// <summary>Returns the memory to its pool; the storage must not be read afterwards.</summary>
    void ReturnToPool();
}
