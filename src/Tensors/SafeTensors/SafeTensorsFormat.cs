namespace BitDistill.Tensors.SafeTensors;

/// <summary>A safetensors file (or index) is malformed; the message names the file and, where relevant, the tensor.</summary>
public sealed class SafeTensorsFormatException : FormatException
{
    /// <summary>Creates the exception; the message becomes "file: tensor 'name': problem".</summary>
    public SafeTensorsFormatException(string filePath, string? tensorName, string problem, Exception? inner = null)
        : base(Compose(filePath, tensorName, problem), inner)
    {
        FilePath = filePath; TensorName = tensorName;
    }

    /// <summary>The file that is malformed.</summary>
    public string FilePath { get; }
    /// <summary>The tensor the problem is about, if any.</summary>
    public string? TensorName { get; }

    private static string Compose(string file, string? tensor, string problem) =>
        tensor is null ? $"safetensors file '{file}': {problem}" : $"safetensors file '{file}', tensor '{tensor}': {problem}";
}

/// <summary>One tensor's header entry: dtype, shape and where its bytes lie in the data region.</summary>
/// <param name="Name">Tensor name as stored.</param>
/// <param name="DType">Stored element type.</param>
/// <param name="Shape">Dimensions as stored (each ≥ 0).</param>
/// <param name="Begin">Start of the bytes, relative to the start of the data region (the header's data_offsets[0]).</param>
/// <param name="ByteLength">Number of bytes (= element count × dtype size).</param>
public sealed record SafeTensorsEntry(string Name, DType DType, IReadOnlyList<long> Shape, long Begin, long ByteLength)
{
    /// <summary>Product of the shape.</summary>
    public long ElementCount => ByteLength / DType.SizeOf();

    /// <summary>The shape as a <see cref="Tensor"/> shape; throws <see cref="NotSupportedException"/> when the tensor has
    /// more than 2^31-1 elements (the limit of this library's tensors).</summary>
    public int[] TensorShape()
    {
        if (ElementCount > int.MaxValue || Shape.Any(d => d > int.MaxValue))
            throw new NotSupportedException($"tensor '{Name}' of shape [{string.Join(", ", Shape)}] is larger than 2^31-1 elements");
        return Shape.Select(d => (int)d).ToArray();
    }
}

/// <summary>The dtype names used in safetensors headers.</summary>
public static class SafeTensorsDTypes
{
    /// <summary>"F32", "F16", "BF16", "I8", "U8", "I32", "I64" or "BOOL".</summary>
    public static string ToName(DType t) => t switch
    {
        DType.Float32 => "F32",
        DType.Float16 => "F16",
        DType.BFloat16 => "BF16",
        DType.Int8 => "I8",
        DType.UInt8 => "U8",
        DType.Int32 => "I32",
        DType.Int64 => "I64",
        DType.Bool => "BOOL",
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, "no safetensors name for this dtype"),
    };

    /// <summary>The DType for a header dtype name, or false for names this library does not support (F64, I16, F8_*, …).</summary>
    public static bool TryParse(string name, out DType t)
    {
        switch (name)
        {
            case "F32": t = DType.Float32; return true;
            case "F16": t = DType.Float16; return true;
            case "BF16": t = DType.BFloat16; return true;
            case "I8": t = DType.Int8; return true;
            case "U8": t = DType.UInt8; return true;
            case "I32": t = DType.Int32; return true;
            case "I64": t = DType.Int64; return true;
            case "BOOL": t = DType.Bool; return true;
            default: t = default; return false;
        }
    }
}
