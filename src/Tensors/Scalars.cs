
using BitDistill.Kernels;

namespace BitDistill.Tensors;

/// <summary>Scalar element access and the scalar definitions of every elementwise function (the reference semantics).</summary>
public static class Scalars
{
    /// <summary>Element idx of a managed storage as double.</summary>
    public static double Get(ManagedStorage s, int idx) => s.DType switch
    {
        DType.Float32 => s.AsSpan<float>()[idx],
        DType.Float16 => (double)(float)s.AsSpan<Half>()[idx],
        DType.BFloat16 => BFloat16ToSingle(s.AsSpan<ushort>()[idx]),
        DType.Int8 => s.AsSpan<sbyte>()[idx],
        DType.UInt8 => s.AsSpan<byte>()[idx],
        DType.Int32 => s.AsSpan<int>()[idx],
        DType.Int64 => s.AsSpan<long>()[idx],
        DType.Bool => s.AsSpan<bool>()[idx] ? 1 : 0,
        _ => throw new NotSupportedException(s.DType.ToString()),
    };

    /// <summary>Stores v into element idx with the conversion rules of <see cref="IBackend.Copy"/>.</summary>
    public static void Set(ManagedStorage s, int idx, double v)
    {
        switch (s.DType)
        {
            case DType.Float32: s.AsSpan<float>()[idx] = (float)v; break;
            case DType.Float16: s.AsSpan<Half>()[idx] = (Half)(float)v; break;
            case DType.BFloat16: s.AsSpan<ushort>()[idx] = SingleToBFloat16((float)v); break;
            case DType.Int8: s.AsSpan<sbyte>()[idx] = unchecked((sbyte)(long)v); break;
            case DType.UInt8: s.AsSpan<byte>()[idx] = unchecked((byte)(long)v); break;
            case DType.Int32: s.AsSpan<int>()[idx] = unchecked((int)(long)v); break;
            case DType.Int64: s.AsSpan<long>()[idx] = (long)v; break;
            case DType.Bool: s.AsSpan<bool>()[idx] = v != 0; break;
            default: throw new NotSupportedException(s.DType.ToString());
        }
    }

    /// <summary>bf16 bits → float (exact).</summary>
    public static float BFloat16ToSingle(ushort b) => BitConverter.UInt32BitsToSingle((uint)b << 16);

    /// <summary>float → bf16 bits, round to nearest even; NaN stays a quiet NaN.</summary>
    public static ushort SingleToBFloat16(float f)
    {
        uint bits = BitConverter.SingleToUInt32Bits(f);
        if (float.IsNaN(f)) return (ushort)((bits >> 16) | 0x40);
        uint rounding = 0x7FFF + ((bits >> 16) & 1);
        return (ushort)((bits + rounding) >> 16);
    }

    /// <summary>The reference definition of a unary op (in double).</summary>
    public static double Unary(UnaryOp op, double x) => op switch
    {
        UnaryOp.Neg => -x,
        UnaryOp.Abs => Math.Abs(x),
        UnaryOp.Exp => Math.Exp(x),
        UnaryOp.Log => Math.Log(x),
        UnaryOp.Sqrt => Math.Sqrt(x),
        UnaryOp.Rsqrt => 1.0 / Math.Sqrt(x),
        UnaryOp.Tanh => Math.Tanh(x),
        UnaryOp.Sigmoid => 1.0 / (1.0 + Math.Exp(-x)),
        UnaryOp.Silu => x / (1.0 + Math.Exp(-x)),
        UnaryOp.GeluTanh => 0.5 * x * (1.0 + Math.Tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))),
        UnaryOp.GeluErf => 0.5 * x * (1.0 + DeterministicMath.Erf(x * 0.7071067811865476)),
        UnaryOp.Relu => double.IsNaN(x) ? x : Math.Max(x, 0),
        UnaryOp.ReluSquared => double.IsNaN(x) ? x : x > 0 ? x * x : 0,
        UnaryOp.Square => x * x,
        UnaryOp.Reciprocal => 1.0 / x,
        UnaryOp.Sign => double.IsNaN(x) ? x : Math.Sign(x),
        UnaryOp.Erf => DeterministicMath.Erf(x),
        _ => throw new NotSupportedException(op.ToString()),
    };

    /// <summary>The reference definition of a binary op (in double). Maximum/Minimum propagate NaN as PyTorch does.</summary>
    public static double Binary(BinaryOp op, double a, double b) => op switch
    {
        BinaryOp.Add => a + b,
        BinaryOp.Sub => a - b,
        BinaryOp.Mul => a * b,
        BinaryOp.Div => a / b,
        BinaryOp.Pow => Math.Pow(a, b),
        BinaryOp.Maximum => double.IsNaN(a) || double.IsNaN(b) ? double.NaN : Math.Max(a, b),
        BinaryOp.Minimum => double.IsNaN(a) || double.IsNaN(b) ? double.NaN : Math.Min(a, b),
        _ => throw new NotSupportedException(op.ToString()),
    };

    /// <summary>The reference definition of a comparison (false for any NaN except Ne).</summary>
    public static bool Compare(CompareOp op, double a, double b) => op switch
    {
        CompareOp.Eq => a == b,
        CompareOp.Ne => a != b,
        CompareOp.Lt => a < b,
        CompareOp.Le => a <= b,
        CompareOp.Gt => a > b,
        CompareOp.Ge => a >= b,
        _ => throw new NotSupportedException(op.ToString()),
    };
}
