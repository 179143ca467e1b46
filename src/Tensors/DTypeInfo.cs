namespace BitDistill.Tensors;

/// <summary>Facts about each <see cref="DType"/>.</summary>
public static class DTypeInfo
{
    /// <summary>Bytes per element.</summary>
    public static int SizeOf(this DType t) => t switch
    {
        DType.Float32 => 4,
        DType.Float16 => 2,
        DType.BFloat16 => 2,
        DType.Int8 => 1,
        DType.UInt8 => 1,
        DType.Int32 => 4,
        DType.Int64 => 8,
        DType.Bool => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, "unknown dtype"),
    };

    /// <summary>The CLR element type used for storage (bf16 is stored as raw ushort bits).</summary>
    public static Type ClrType(this DType t) => t switch
    {
        DType.Float32 => typeof(float),
        DType.Float16 => typeof(Half),
        DType.BFloat16 => typeof(ushort),
        DType.Int8 => typeof(sbyte),
        DType.UInt8 => typeof(byte),
        DType.Int32 => typeof(int),
        DType.Int64 => typeof(long),
        DType.Bool => typeof(bool),
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, "unknown dtype"),
    };

    /// <summary>The DType whose storage element is <typeparamref name="T"/> (ushort maps to BFloat16).</summary>
    public static DType Of<T>() where T : unmanaged
    {
        if (typeof(T) == typeof(float)) return DType.Float32;
        if (typeof(T) == typeof(Half)) return DType.Float16;
        if (typeof(T) == typeof(ushort)) return DType.BFloat16;
        if (typeof(T) == typeof(sbyte)) return DType.Int8;
        if (typeof(T) == typeof(byte)) return DType.UInt8;
        if (typeof(T) == typeof(int)) return DType.Int32;
        if (typeof(T) == typeof(long)) return DType.Int64;
        if (typeof(T) == typeof(bool)) return DType.Bool;
        throw new NotSupportedException($"no tensor dtype for CLR type {typeof(T).Name}");
    }

    /// <summary>True for Float32, Float16 and BFloat16.</summary>
    public static bool IsFloating(this DType t) => t is DType.Float32 or DType.Float16 or DType.BFloat16;
}
