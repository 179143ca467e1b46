using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace BitDistill.Tensors.SafeTensors;

/// <summary>Writes safetensors files: tensors sorted by name (ordinal), header padded with spaces to 8-byte alignment,
/// written to <c>path + ".tmp"</c> and renamed over the target path only when complete.</summary>
/// <remarks>The Python writer orders tensors by dtype alignment, then name; any order is valid for readers, and
/// plain name order keeps files byte-identical for identical input.</remarks>
public static class SafeTensorsWriter
{
    /// <summary>Writes the tensors (any dtype, any strides or device) and optional <c>__metadata__</c> to <paramref name="path"/>.</summary>
    public static void Write(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(tensors);
        var list = Sorted(tensors);
        AtomicWrite(path, stream => WriteTo(stream, list, metadata));
    }

    /// <summary>Number of bytes a tensor's data takes in a file.</summary>
    public static long DataBytes(Tensor t) => (long)t.Count * t.DType.SizeOf();

    internal static List<KeyValuePair<string, Tensor>> Sorted(IEnumerable<KeyValuePair<string, Tensor>> tensors)
    {
        var list = tensors.ToList();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, t) in list)
        {
            if (string.IsNullOrEmpty(name)) throw new ArgumentException("a tensor name is null or empty", nameof(tensors));
            if (name == "__metadata__") throw new ArgumentException("\"__metadata__\" is reserved and cannot name a tensor", nameof(tensors));
            if (t is null) throw new ArgumentException($"tensor '{name}' is null", nameof(tensors));
            if (!seen.Add(name)) throw new ArgumentException($"tensor name '{name}' appears twice", nameof(tensors));
        }
        list.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
        return list;
    }

    /// <summary>Writes to a temporary file beside <paramref name="path"/>, flushes it to disk, then renames it into place.</summary>
    internal static void AtomicWrite(string path, Action<Stream> write)
    {
        string tmp = path + ".tmp";
        try
        {
            using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(fs);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, path, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    private static void WriteTo(Stream s, List<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        var header = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(header, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject("__metadata__");
                foreach (var (k, v) in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal)) w.WriteString(k, v);
                w.WriteEndObject();
            }
            long offset = 0;
            foreach (var (name, t) in tensors)
            {
                long bytes = DataBytes(t);
                w.WriteStartObject(name);
                w.WriteString("dtype", SafeTensorsDTypes.ToName(t.DType));
                w.WriteStartArray("shape");
                foreach (var d in t.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + bytes);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += bytes;
            }
            w.WriteEndObject();
        }
        int padded = (header.WrittenCount + 7) & ~7;
        Span<byte> len = stackalloc byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)padded);
        s.Write(len);
        s.Write(header.WrittenSpan);
        for (int i = header.WrittenCount; i < padded; i++) s.WriteByte((byte)' ');
        foreach (var (_, t) in tensors) WriteData(s, t);
    }

    /// <summary>Writes the elements of a tensor in row-major order, gathering strided views row by row.
    /// Offsets are 64-bit: a storage may hold more than 2 GiB of bytes.</summary>
    private static void WriteData(Stream s, Tensor t)
    {
        if (t.Count == 0) return;
        if (t.Storage is not ManagedStorage) t = t.To(Device.Cpu);
        var ms = (ManagedStorage)t.Storage;
        int size = t.DType.SizeOf();
        ref byte data = ref MemoryMarshal.GetArrayDataReference(ms.Array);
        if (t.IsContiguous)
        {
            const int Chunk = 1 << 30;
            long start = (long)t.Offset * size, length = (long)t.Count * size;
            for (long off = 0; off < length; off += Chunk)
                s.Write(MemoryMarshal.CreateReadOnlySpan(ref Unsafe.Add(ref data, (nint)(start + off)), (int)Math.Min(Chunk, length - off)));
            return;
        }
        int rank = t.Rank;                       // ≥ 1 here: a 0-d tensor is always contiguous
        int inner = t.Shape[rank - 1], innerStride = t.Strides[rank - 1];
        var row = ArrayPool<byte>.Shared.Rent(inner * size);
        try
        {
            var index = new int[rank - 1];
            int rows = t.Count / inner;
            for (int r = 0; r < rows; r++)
            {
                long start = t.Offset;
                for (int d = 0; d < rank - 1; d++) start += (long)index[d] * t.Strides[d];
                if (innerStride == 1)
                    s.Write(MemoryMarshal.CreateReadOnlySpan(ref Unsafe.Add(ref data, (nint)(start * size)), inner * size));
                else
                {
                    for (int j = 0; j < inner; j++)
                        MemoryMarshal.CreateReadOnlySpan(ref Unsafe.Add(ref data, (nint)((start + (long)j * innerStride) * size)), size)
                            .CopyTo(row.AsSpan(j * size));
                    s.Write(row, 0, inner * size);
                }
                for (int d = rank - 2; d >= 0; d--)
                {
                    if (++index[d] < t.Shape[d]) break;
                    index[d] = 0;
                }
            }
        }
        finally { ArrayPool<byte>.Shared.Return(row); }
    }
}
