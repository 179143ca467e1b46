namespace BitDistill.Tensors.SafeTensors;

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
