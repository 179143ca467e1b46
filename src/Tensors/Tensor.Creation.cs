using BitDistill.Kernels;

namespace BitDistill.Tensors;

public sealed partial class Tensor
{
    /// <summary>A zero-filled contiguous tensor.</summary>
    public static Tensor Zeros(int[] shape, DType dtype = DType.Float32, Device? device = null) => Empty(shape, dtype, device);

    /// <summary>A contiguous tensor (zero-filled on managed devices).</summary>
    public static Tensor Empty(int[] shape, DType dtype = DType.Float32, Device? device = null)
    {
        device ??= Device.Default;
        long n = 1; foreach (var d in shape) n *= d;
        if (n > int.MaxValue || n < 0) throw new ArgumentException($"shape {ShapeString(shape)} is too large");
        return new Tensor(device.Backend.Allocate(dtype, (int)n), shape);
    }

    /// <summary>A contiguous tensor whose every element the caller is about to overwrite: on the CPU inside a
    /// <see cref="TensorScope"/> a reused pool buffer is not cleared first (its contents are arbitrary); elsewhere as
    /// <see cref="Empty(int[], DType, Device?)"/>.</summary>
    public static Tensor Uninitialized(int[] shape, DType dtype = DType.Float32, Device? device = null)
    {
        device ??= Device.Default;
        long n = 1; foreach (var d in shape) n *= d;
        if (n > int.MaxValue || n < 0) throw new ArgumentException($"shape {ShapeString(shape)} is too large");
        return new Tensor(device.Backend.AllocateUninitialized(dtype, (int)n), shape);
    }

    /// <summary>A zero-filled contiguous CPU tensor whose first element is 64-byte aligned, in a pinned array that never moves:
    /// for weights the kernels stream (a 512-bit load that straddles two cache lines costs two, and the FP16 GEMV ran about
    /// 15 % slower from memory on unaligned rows). The tensor is a view at an offset into its storage.</summary>
    public static Tensor EmptyAligned(int[] shape, DType dtype)
    {
        long n = 1; foreach (var d in shape) n *= d;
        int size = dtype.SizeOf();
        if (n < 0 || n > int.MaxValue - 64 / size) throw new ArgumentException($"shape {ShapeString(shape)} is too large");
        int length = (int)n + 64 / size;
        Array a = dtype switch
        {
            DType.Float32 => GC.AllocateArray<float>(length, pinned: true),
            DType.Float16 => GC.AllocateArray<Half>(length, pinned: true),
            DType.BFloat16 => GC.AllocateArray<ushort>(length, pinned: true),
            DType.Int8 => GC.AllocateArray<sbyte>(length, pinned: true),
            DType.UInt8 => GC.AllocateArray<byte>(length, pinned: true),
            DType.Int32 => GC.AllocateArray<int>(length, pinned: true),
            DType.Int64 => GC.AllocateArray<long>(length, pinned: true),
            _ => throw new NotSupportedException($"aligned tensors of {dtype} are not supported"),
        };
        nint address;
        unsafe { address = (nint)System.Runtime.CompilerServices.Unsafe.AsPointer(ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(a)); }
        int offset = (int)((64 - (address & 63)) & 63) / size; // array data is 8-byte aligned, so this is whole elements
        return new Tensor(new ManagedStorage(a, dtype, length, Device.Cpu), shape, null, offset);
    }

    /// <summary>A zero-filled float32 tensor.</summary>
    public static Tensor Zeros(params int[] shape) => Zeros(shape, DType.Float32, null);
    /// <summary>A float32 tensor of ones.</summary>
    public static Tensor Ones(params int[] shape) => Full(shape, 1.0);

    /// <summary>A tensor with every element = value.</summary>
    public static Tensor Full(int[] shape, double value, DType dtype = DType.Float32, Device? device = null)
    {
        var t = Empty(shape, dtype, device);
        if (value != 0) t.Fill(value);
        return t;
    }

    /// <summary>A 0-d float32 tensor.</summary>
    public static Tensor Scalar(float value, Device? device = null) => FromArray(new[] { value }, Array.Empty<int>(), device);

    /// <summary>[start, start+step, …) below end, float32.</summary>
    public static Tensor Arange(double start, double end, double step = 1, DType dtype = DType.Float32, Device? device = null)
    {
        if (step == 0) throw new ArgumentException("arange step must not be 0");
        int n = (int)Math.Max(0, Math.Ceiling((end - start) / step));
        var t = Empty([n], dtype, device);
        var ms = (ManagedStorage)t.Storage;
        switch (dtype)
        {
            case DType.Float32: { var s = ms.AsSpan<float>(); for (int i = 0; i < n; i++) s[i] = (float)(start + i * step); break; }
            case DType.Int32: { var s = ms.AsSpan<int>(); for (int i = 0; i < n; i++) s[i] = (int)(start + i * step); break; }
            case DType.Int64: { var s = ms.AsSpan<long>(); for (int i = 0; i < n; i++) s[i] = (long)(start + i * step); break; }
            default:
                var f = Arange(start, end, step, DType.Float32, device);
                return f.To(dtype);
        }
        return t;
    }

    /// <summary>A tensor copied from an array (float, Half, ushort=bf16 bits, sbyte, byte, int, long, bool).</summary>
    public static Tensor FromArray<T>(T[] data, int[] shape, Device? device = null) where T : unmanaged
    {
        var t = Empty(shape, DTypeInfo.Of<T>(), device);
        if (t.Count != data.Length) throw new ArgumentException($"{data.Length} values do not fill shape {ShapeString(shape)} ({t.Count} elements)");
        t.Backend.CopyFromHost(System.Runtime.InteropServices.MemoryMarshal.AsBytes(data.AsSpan()), t);
        return t;
    }

    /// <summary>A 1-d float32 tensor.</summary>
    public static Tensor FromArray(params float[] data) => FromArray(data, [data.Length]);

    /// <summary>Wraps an array without copying (it becomes the tensor's storage).</summary>
    public static Tensor Wrap<T>(T[] data, int[] shape, Device? device = null) where T : unmanaged
    {
        device ??= Device.Default;
        if (device.Kind == DeviceKind.Gpu) return FromArray(data, shape, device);
        return new Tensor(new ManagedStorage(data, DTypeInfo.Of<T>(), data.Length, device), shape);
    }

    /// <summary>Uniform samples in [low, high).</summary>
    public static Tensor Uniform(int[] shape, Generator gen, float low = 0, float high = 1, Device? device = null)
    {
        var host = new float[Product(shape)];
        Philox.Uniform(host, gen.Seed, gen.Take(host.Length), low, high);
        return Wrap(host, shape).To(device ?? Device.Default);
    }

    /// <summary>Normal samples N(mean, std²).</summary>
    public static Tensor Normal(int[] shape, Generator gen, float mean = 0, float std = 1, Device? device = null)
    {
        var host = new float[Product(shape)];
        Philox.Normal(host, gen.Seed, gen.Take(host.Length), mean, std);
        return Wrap(host, shape).To(device ?? Device.Default);
    }

    /// <summary>Normal samples truncated to mean ± 2·std (or the given bounds in units of std), as used for weight init.</summary>
    public static Tensor TruncatedNormal(int[] shape, Generator gen, float mean = 0, float std = 1, float lo = -2, float hi = 2, Device? device = null)
    {
        var host = new float[Product(shape)];
        ulong off = gen.Offset; gen.Offset += (ulong)host.Length + 1;
        Philox.TruncatedNormal(host, gen.Seed, off, mean, std, lo, hi);
        return Wrap(host, shape).To(device ?? Device.Default);
    }

    internal static int Product(ReadOnlySpan<int> shape)
    {
        long n = 1; foreach (var d in shape) n *= d;
        if (n > int.MaxValue) throw new ArgumentException($"shape {ShapeString(shape)} is too large");
        return (int)n;
    }

    /// <summary>The elements in row-major order as a new array (T must match the dtype's storage type).</summary>
    public T[] ToArray<T>() where T : unmanaged
    {
        var result = new T[Count];
        CopyToHost<T>(result);
        return result;
    }

    /// <summary>Copies the elements in row-major order into host memory (T must match the dtype's storage type).</summary>
    public void CopyToHost<T>(Span<T> destination) where T : unmanaged
    {
        if (typeof(T) != DType.ClrType()) throw new InvalidOperationException($"a {DType} tensor read as {typeof(T).Name}");
        if (destination.Length != Count) throw new ArgumentException($"host buffer of {destination.Length} elements for a tensor of {Count}");
        var c = Contiguous();
        c.Backend.CopyToHost(c, System.Runtime.InteropServices.MemoryMarshal.AsBytes(destination));
    }

    /// <summary>Overwrites the elements of this contiguous tensor (or view) from host memory in row-major order (T must match
    /// the dtype's storage type); e.g. gradients after a data-parallel all-reduce.</summary>
    public void CopyFromHost<T>(ReadOnlySpan<T> source) where T : unmanaged
    {
        if (typeof(T) != DType.ClrType()) throw new InvalidOperationException($"a {DType} tensor written as {typeof(T).Name}");
        if (source.Length != Count) throw new ArgumentException($"host buffer of {source.Length} elements for a tensor of {Count}");
        if (!IsContiguous) throw new InvalidOperationException("CopyFromHost needs a contiguous tensor; call Contiguous() first");
        Backend.CopyFromHost(System.Runtime.InteropServices.MemoryMarshal.AsBytes(source), this);
    }

    /// <summary>The elements as float32, converting from any dtype.</summary>
    public float[] ToFloatArray() => (DType == DType.Float32 ? this : To(DType.Float32)).ToArray<float>();

    /// <summary>The single value of a one-element tensor as float.</summary>
    public float Item()
    {
        if (Count != 1) throw new InvalidOperationException($"Item() needs one element; shape is {ShapeString(_shape)}");
        return ToFloatArray()[0];
    }

    /// <summary>The elements of a contiguous managed tensor as a span (no copy).</summary>
    public Span<T> AsSpan<T>() where T : unmanaged
    {
        if (!IsContiguous) throw new InvalidOperationException("AsSpan needs a contiguous tensor; call Contiguous() first");
        if (Storage is not ManagedStorage ms) throw new NotSupportedException($"cannot span {Device} memory");
        return ms.AsSpan<T>().Slice(Offset, Count);
    }
}
