namespace BitDistill.Tensors;

/// <summary>Host copies for backends whose storage is a managed array (the CPU and reference backends).</summary>
internal static class HostCopies
{
    private static ManagedStorage Managed(Tensor t) => t.Storage as ManagedStorage
        ?? throw new NotSupportedException($"{t.Device} memory needs its backend's host copy");

    public static void ToHost(Tensor src, Span<byte> dst)
    {
        if (!src.IsContiguous) throw new ArgumentException("host copies need a contiguous tensor");
        int size = src.DType.SizeOf();
        if (dst.Length != src.Count * size) throw new ArgumentException($"host buffer of {dst.Length} bytes for {src.Count} × {size}-byte elements");
        Managed(src).AsBytes().Slice(src.Offset * size, src.Count * size).CopyTo(dst);
    }

    public static void FromHost(ReadOnlySpan<byte> src, Tensor dst)
    {
        if (!dst.IsContiguous) throw new ArgumentException("host copies need a contiguous tensor");
        int size = dst.DType.SizeOf();
        if (src.Length != dst.Count * size) throw new ArgumentException($"host buffer of {src.Length} bytes for {dst.Count} × {size}-byte elements");
        src.CopyTo(Managed(dst).AsBytes().Slice(dst.Offset * size, dst.Count * size));
    }
}
