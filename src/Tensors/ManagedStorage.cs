using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace BitDistill.Tensors;

/// <summary>Storage in a managed array: used by the CPU backend and the scalar reference backend.</summary>
public sealed class ManagedStorage : Storage
{
    private Array? _data;
    private readonly int _length;
    private readonly DType _dtype;
    private readonly Device _device;

    /// <summary>Wraps an existing array (float[], Half[], ushort[] for bf16, sbyte[], byte[], int[], long[], bool[]).</summary>
    public ManagedStorage(Array data, DType dtype, int length, Device device)
    {
        if (data.GetType().GetElementType() != dtype.ClrType())
            throw new ArgumentException($"array of {data.GetType().GetElementType()?.Name} cannot back a {dtype} storage");
        if ((uint)length > (uint)data.Length) throw new ArgumentOutOfRangeException(nameof(length));
        _data = data; _dtype = dtype; _length = length; _device = device;
    }

    /// <summary>Allocates a zeroed storage.</summary>
    public static ManagedStorage Allocate(DType dtype, int length, Device device) =>
        new(Array.CreateInstance(dtype.ClrType(), length), dtype, length, device);

    public override DType DType => _dtype;
    public override int Length => _length;
    public override Device Device => _device;
    /// <summary>The backing array (may be longer than <see cref="Length"/>).</summary>
    public Array Array => _data ?? throw new ObjectDisposedException(nameof(ManagedStorage));

    /// <summary>True once the memory went back to the pool.</summary>
    public bool IsReleased => _data is null;

    internal Array? Release() { var d = _data; _data = null; return d; }

    /// <summary>The elements as a span of T (T must match the dtype's storage type).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Span<T> AsSpan<T>() where T : unmanaged
    {
        var data = _data ?? throw new ObjectDisposedException(nameof(ManagedStorage), "this tensor's memory was returned to the pool when its TensorScope ended; keep it with TensorScope.Keep or copy it out");
        if (typeof(T) != data.GetType().GetElementType())
            throw new InvalidOperationException($"storage of {_dtype} viewed as {typeof(T).Name}");
        return MemoryMarshal.CreateSpan(ref Unsafe.As<byte, T>(ref MemoryMarshal.GetArrayDataReference(data)), _length);
    }

    /// <summary>The raw bytes.</summary>
    public Span<byte> AsBytes() =>
        MemoryMarshal.CreateSpan(ref MemoryMarshal.GetArrayDataReference(Array), _length * _dtype.SizeOf());
}
