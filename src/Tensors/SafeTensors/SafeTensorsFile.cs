using System.IO.MemoryMappedFiles;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text.Json;
using BitDistill.Kernels;

namespace BitDistill.Tensors.SafeTensors;

/// <summary>A read-only, memory-mapped safetensors file. The header is parsed and fully validated on open; tensor bytes
/// are read only when asked for.</summary>
/// <remarks>
/// Layout: an 8-byte little-endian header length N, N bytes of UTF-8 JSON
/// (<c>{"__metadata__": {str: str}, name: {"dtype", "shape", "data_offsets": [begin, end]}, …}</c>), then the data region,
/// which the tensors must tile exactly (no gaps, no overlaps, nothing left over). Data is little-endian.
/// </remarks>
public sealed unsafe class SafeTensorsFile : IDisposable
{
    /// <summary>Headers larger than this are refused (the Rust implementation uses the same 100 MB cap).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;
    private readonly Dictionary<string, SafeTensorsEntry> _entries;
    private readonly string[] _names;
    private byte* _base;          // start of the mapped file
    private readonly long _dataStart;
    private bool _disposed;

    private SafeTensorsFile(string path, MemoryMappedFile map, MemoryMappedViewAccessor view, byte* basePtr, long fileLength)
    {
        Path = path; _map = map; _view = view; _base = basePtr; FileLength = fileLength;
        ulong headerLength = MemoryMarshal.Read<ulong>(new ReadOnlySpan<byte>(_base, 8));
        if (!BitConverter.IsLittleEndian) headerLength = System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(headerLength);
        if (headerLength > (ulong)(fileLength - 8))
            throw Bad($"header length {headerLength} runs past the end of the {fileLength}-byte file (truncated or not a safetensors file)");
        if (headerLength > MaxHeaderBytes)
            throw Bad($"header length {headerLength} exceeds the {MaxHeaderBytes}-byte limit");
        if (headerLength < 2) throw Bad($"header length {headerLength} is too small to hold a JSON object");
        _dataStart = 8 + (long)headerLength;
        try
        {
            (_entries, _names, Metadata) = ParseHeader(new ReadOnlySpan<byte>(_base + 8, (int)headerLength));
        }
        catch (InvalidOperationException ex)
        {
            // JsonElement throws this for strings that are not valid UTF-8.
            throw Bad($"header is not valid UTF-8 JSON ({ex.Message})", inner: ex);
        }
    }

    /// <summary>Opens and validates a file. Throws <see cref="SafeTensorsFormatException"/> for a malformed one.</summary>
    public static SafeTensorsFile Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.RandomAccess);
        MemoryMappedFile? map = null; MemoryMappedViewAccessor? view = null; bool pointerTaken = false;
        try
        {
            long length = fs.Length;
            if (length < 8) throw new SafeTensorsFormatException(path, null, $"file is {length} bytes long, shorter than the 8-byte header length");
            map = MemoryMappedFile.CreateFromFile(fs, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
            view = map.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
            byte* p = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            pointerTaken = true;
            return new SafeTensorsFile(path, map, view, p + view.PointerOffset, length);
        }
        catch
        {
            if (pointerTaken) view!.SafeMemoryMappedViewHandle.ReleasePointer();
            view?.Dispose();
            if (map is not null) map.Dispose(); else fs.Dispose();
            throw;
        }
    }

    /// <summary>The path the file was opened from.</summary>
    public string Path { get; }
    /// <summary>Size of the file in bytes.</summary>
    public long FileLength { get; }
    /// <summary>The header's <c>__metadata__</c> (empty if absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }
    /// <summary>Tensor names in the order of their data in the file.</summary>
    public IReadOnlyList<string> Names => _names;
    /// <summary>True if the file holds a tensor of this name.</summary>
    public bool Contains(string name) => _entries.ContainsKey(name);

    /// <summary>The header entry of a tensor; <see cref="KeyNotFoundException"/> (naming file and tensor) if absent.</summary>
    public SafeTensorsEntry Entry(string name) =>
        _entries.TryGetValue(name, out var e) ? e : throw new KeyNotFoundException($"safetensors file '{Path}' has no tensor '{name}'");

    /// <summary>The tensor's stored bytes as a span over the mapping: no copy, valid only until <see cref="Dispose"/>.</summary>
    public ReadOnlySpan<byte> RawSpan(string name)
    {
        var e = Entry(name);
        if (e.ByteLength > int.MaxValue) throw new NotSupportedException($"tensor '{name}' in '{Path}' is over 2 GiB; it cannot be one span");
        return Bytes(e.Begin, (int)e.ByteLength);
    }

    /// <summary>A copy of the tensor's stored bytes (little-endian, row-major).</summary>
    public byte[] ReadRaw(string name) => RawSpan(name).ToArray();

    /// <summary>Loads a tensor as a new contiguous tensor. By default it keeps the stored dtype; <paramref name="convertTo"/>
    /// converts between Float32, Float16 and BFloat16 (round to nearest even) with <see cref="NumericConvert"/>.</summary>
    public Tensor Load(string name, DType? convertTo = null, Device? device = null)
    {
        var e = Entry(name);
        var shape = e.TensorShape();
        var target = Target(name, e, convertTo);
        device ??= Device.Default;
        // GPU tensors are assembled on the CPU and copied over; managed devices are written in place.
        var host = Tensor.Empty(shape, target, device.Kind == DeviceKind.Gpu ? Device.Cpu : device);
        Fill(name, e, host);
        return host.Device == device ? host : host.To(device);
    }

    /// <summary>As <see cref="Load"/> on the CPU, into a tensor whose first element is 64-byte aligned in pinned memory
    /// (<see cref="Tensor.EmptyAligned"/>): for the weights an inference kernel streams.</summary>
    public Tensor LoadAligned(string name, DType? convertTo = null)
    {
        var e = Entry(name);
        var host = Tensor.EmptyAligned(e.TensorShape(), Target(name, e, convertTo));
        Fill(name, e, host);
        return host;
    }

    // The dtype a load produces: the stored one, or another float type for a float tensor.
    private DType Target(string name, SafeTensorsEntry e, DType? convertTo)
    {
        var target = convertTo ?? e.DType;
        if (target != e.DType && !(target.IsFloating() && e.DType.IsFloating()))
            throw new NotSupportedException($"tensor '{name}' in '{Path}': loading {e.DType} as {target} is not supported here (only between float types); load it as stored and convert with Tensor.To");
        return target;
    }

    // Copies (or converts) the stored tensor into host, a contiguous tensor on managed storage, at its offset.
    private void Fill(string name, SafeTensorsEntry e, Tensor host)
    {
        if (host.Storage is not ManagedStorage ms) throw new NotSupportedException($"tensor '{name}': device {host.Device} does not use managed storage");
        ObjectDisposedException.ThrowIf(_disposed, this);
        byte* src = _base + _dataStart + e.Begin;
        ref byte dst = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(ms.Array), (nint)host.Offset * host.DType.SizeOf());
        if (host.DType == e.DType) CopyBytes(src, ref dst, e.ByteLength, host.DType == DType.Bool);
        else Convert(src, e.DType, ref dst, host.DType, (int)e.ElementCount);
    }

    // Tensors may exceed 2 GiB of bytes (up to 2^31-1 elements of 8 bytes), more than one span can hold: copy in chunks.
    private static void CopyBytes(byte* src, ref byte dst, long length, bool bools)
    {
        const int Chunk = 1 << 30;
        for (long off = 0; off < length; off += Chunk)
        {
            int n = (int)Math.Min(Chunk, length - off);
            var d = MemoryMarshal.CreateSpan(ref Unsafe.Add(ref dst, (nint)off), n);
            new ReadOnlySpan<byte>(src + off, n).CopyTo(d);
            // A .NET bool must be 0 or 1; any other stored byte counts as true.
            if (bools) for (int i = 0; i < d.Length; i++) if (d[i] > 1) d[i] = 1;
        }
    }

    private static void Convert(byte* src, DType from, ref byte dst, DType to, int count)
    {
        // Through a float buffer in chunks, so that f16↔bf16 needs no full-size temporary.
        const int Chunk = 4096;
        Span<float> buf = stackalloc float[Chunk];
        for (int i = 0; i < count; i += Chunk)
        {
            int m = Math.Min(Chunk, count - i);
            var f = buf[..m];
            switch (from)
            {
                case DType.Float32: new ReadOnlySpan<float>((float*)src + i, m).CopyTo(f); break;
                case DType.Float16: NumericConvert.HalfToSingle(new ReadOnlySpan<Half>((Half*)src + i, m), f); break;
                case DType.BFloat16: NumericConvert.BFloat16ToSingle(new ReadOnlySpan<ushort>((ushort*)src + i, m), f); break;
            }
            switch (to)
            {
                case DType.Float32: f.CopyTo(MemoryMarshal.CreateSpan(ref Unsafe.Add(ref Unsafe.As<byte, float>(ref dst), i), m)); break;
                case DType.Float16: NumericConvert.SingleToHalf(f, MemoryMarshal.CreateSpan(ref Unsafe.Add(ref Unsafe.As<byte, Half>(ref dst), i), m)); break;
                case DType.BFloat16: NumericConvert.SingleToBFloat16(f, MemoryMarshal.CreateSpan(ref Unsafe.Add(ref Unsafe.As<byte, ushort>(ref dst), i), m)); break;
            }
        }
    }

    /// <summary>Releases the mapping; spans from <see cref="RawSpan"/> must not be used afterwards.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _base = null;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }

    private ReadOnlySpan<byte> Bytes(long begin, int length)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return new ReadOnlySpan<byte>(_base + _dataStart + begin, length);
    }

    private SafeTensorsFormatException Bad(string problem, string? tensor = null, Exception? inner = null) => new(Path, tensor, problem, inner);

    private (Dictionary<string, SafeTensorsEntry>, string[], IReadOnlyDictionary<string, string>) ParseHeader(ReadOnlySpan<byte> header)
    {
        JsonDocument doc;
        try
        {
            // A copy: JsonDocument keeps its input, and the mapping may be disposed first.
            doc = JsonDocument.Parse(header.ToArray(), new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException ex)
        {
            throw Bad($"header is not valid JSON ({ex.Message})", inner: ex);
        }
        using var _ = doc;
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw Bad($"header must be a JSON object, found {root.ValueKind}");

        long dataLength = FileLength - _dataStart;
        var entries = new Dictionary<string, SafeTensorsEntry>(StringComparer.Ordinal);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        bool sawMetadata = false;
        foreach (var prop in root.EnumerateObject())
        {
            string name = prop.Name;
            if (name == "__metadata__")
            {
                if (sawMetadata) throw Bad("header has two \"__metadata__\" keys");
                sawMetadata = true;
                if (prop.Value.ValueKind != JsonValueKind.Object) throw Bad($"\"__metadata__\" must be an object of strings, found {prop.Value.ValueKind}");
                foreach (var kv in prop.Value.EnumerateObject())
                {
                    if (kv.Value.ValueKind != JsonValueKind.String) throw Bad($"\"__metadata__\" value of \"{kv.Name}\" must be a string, found {kv.Value.ValueKind}");
                    if (!metadata.TryAdd(kv.Name, kv.Value.GetString()!)) throw Bad($"\"__metadata__\" has the key \"{kv.Name}\" twice");
                }
                continue;
            }
            if (entries.ContainsKey(name)) throw Bad("the header lists this tensor twice", name);
            entries.Add(name, ParseEntry(name, prop.Value, dataLength));
        }

        // The tensors must tile the data region exactly: sorted by offset, each starts where the previous one ended.
        var ordered = entries.Values.OrderBy(e => e.Begin).ThenBy(e => e.ByteLength).ToArray();
        long expected = 0; string? previous = null;
        foreach (var e in ordered)
        {
            if (e.Begin < expected)
                throw Bad($"data_offsets [{e.Begin}, {e.Begin + e.ByteLength}) overlap tensor '{previous}' (which ends at {expected})", e.Name);
            if (e.Begin > expected)
                throw Bad($"data_offsets start at {e.Begin} but the previous tensor ends at {expected}: {e.Begin - expected} bytes of the data region belong to no tensor", e.Name);
            expected = e.Begin + e.ByteLength;
            previous = e.Name;
        }
        if (expected != dataLength)
            throw Bad($"the tensors cover {expected} bytes but the data region holds {dataLength}: {dataLength - expected} trailing bytes belong to no tensor");
        return (entries, ordered.Select(e => e.Name).ToArray(), metadata);
    }

    private SafeTensorsEntry ParseEntry(string name, JsonElement v, long dataLength)
    {
        if (v.ValueKind != JsonValueKind.Object) throw Bad($"entry must be an object with dtype, shape and data_offsets, found {v.ValueKind}", name);
        JsonElement? dtypeEl = null, shapeEl = null, offsetsEl = null;
        foreach (var p in v.EnumerateObject())
        {
            ref JsonElement? slot = ref dtypeEl;
            switch (p.Name)
            {
                case "dtype": slot = ref dtypeEl; break;
                case "shape": slot = ref shapeEl; break;
                case "data_offsets": slot = ref offsetsEl; break;
                default: continue; // unknown fields are ignored, as the reference implementation does
            }
            if (slot is not null) throw Bad($"entry has the field \"{p.Name}\" twice", name);
            slot = p.Value;
        }
        if (dtypeEl is not { } dt || dt.ValueKind != JsonValueKind.String) throw Bad("\"dtype\" is missing or not a string", name);
        var dtypeName = dt.GetString()!;
        if (!SafeTensorsDTypes.TryParse(dtypeName, out var dtype))
            throw Bad($"unknown or unsupported dtype \"{dtypeName}\" (supported: F32, F16, BF16, I8, U8, I32, I64, BOOL)", name);

        if (shapeEl is not { } sh || sh.ValueKind != JsonValueKind.Array) throw Bad("\"shape\" is missing or not an array", name);
        if (sh.GetArrayLength() > 64) throw Bad($"\"shape\" has {sh.GetArrayLength()} dimensions (at most 64 are accepted)", name);
        var shape = new long[sh.GetArrayLength()];
        long count = 1; bool overflow = false;
        int i = 0;
        foreach (var d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long dim) || dim < 0)
                throw Bad($"shape dimension {i} is {d.GetRawText()}; expected a non-negative integer", name);
            shape[i++] = dim;
            if (!overflow)
            {
                try { count = checked(count * dim); }
                catch (OverflowException) { overflow = true; }
            }
        }
        // A zero dimension makes the count 0 however large the others are.
        if (overflow && !shape.Contains(0)) throw Bad($"shape [{string.Join(", ", shape)}] has more elements than fit in 64 bits", name);
        if (overflow) count = 0;

        if (offsetsEl is not { } off || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
            throw Bad("\"data_offsets\" is missing or not an array of two integers", name);
        var o0 = off[0]; var o1 = off[1];
        if (o0.ValueKind != JsonValueKind.Number || !o0.TryGetInt64(out long begin) || begin < 0 ||
            o1.ValueKind != JsonValueKind.Number || !o1.TryGetInt64(out long end) || end < 0)
            throw Bad($"data_offsets {off.GetRawText()} must be two non-negative integers", name);
        if (end < begin) throw Bad($"data_offsets [{begin}, {end}] are reversed", name);
        if (end > dataLength)
            throw Bad($"data_offsets [{begin}, {end}] run past the end of the {dataLength}-byte data region (file truncated?)", name);

        long bytes;
        try { bytes = checked(count * dtype.SizeOf()); }
        catch (OverflowException) { throw Bad($"shape [{string.Join(", ", shape)}] of {dtype} needs more bytes than fit in 64 bits", name); }
        if (bytes != end - begin)
            throw Bad($"shape [{string.Join(", ", shape)}] of {dtypeName} needs {bytes} bytes but data_offsets [{begin}, {end}] hold {end - begin}", name);
        return new SafeTensorsEntry(name, dtype, shape, begin, bytes);
    }
}
