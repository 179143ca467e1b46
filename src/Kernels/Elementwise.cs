using System.Numerics.Tensors;

namespace BitDistill.Kernels;

/// <summary>Span-wide elementwise float32 kernels. The SIMD path uses TensorPrimitives (which picks the widest vectors the
/// CPU has); <see cref="SimdLevel.Scalar"/> forces the plain loops, which are also the reference.</summary>
public static class Elementwise
{
    /// <summary>y = op(x); x and y may be the same memory.</summary>
    public static void Unary(UnaryOp op, ReadOnlySpan<float> x, Span<float> y)
    {
        var level = KernelContext.Current.Simd;
        if (x.Length != y.Length) throw new ArgumentException("length mismatch");
        if (level < SimdLevel.Vector128) { UnaryReference(op, x, y); return; }
        // SiLU and GELU-tanh read x again after writing y: in place they go through a stack block
        if (op is UnaryOp.Silu or UnaryOp.GeluTanh && x.Overlaps(y))
        {
            Span<float> block = stackalloc float[256];
            for (int i = 0; i < x.Length; i += block.Length)
            {
                int m = Math.Min(block.Length, x.Length - i);
                UnarySimd(op, x.Slice(i, m), block[..m]);
                block[..m].CopyTo(y.Slice(i, m));
            }
            return;
        }
        UnarySimd(op, x, y);
    }

    // The vector path; y must not overlap x for the multi-pass ops (SiLU, GELU-tanh).
    private static void UnarySimd(UnaryOp op, ReadOnlySpan<float> x, Span<float> y)
    {
        switch (op)
        {
            case UnaryOp.Neg: TensorPrimitives.Negate(x, y); break;
            case UnaryOp.Abs: TensorPrimitives.Abs(x, y); break;
            case UnaryOp.Exp: TensorPrimitives.Exp(x, y); break;
            case UnaryOp.Log: TensorPrimitives.Log(x, y); break;
            case UnaryOp.Sqrt: TensorPrimitives.Sqrt(x, y); break;
            case UnaryOp.Rsqrt: TensorPrimitives.Sqrt(x, y); TensorPrimitives.Divide(1f, y, y); break;
            case UnaryOp.Tanh: TensorPrimitives.Tanh(x, y); break;
            case UnaryOp.Sigmoid: TensorPrimitives.Sigmoid(x, y); break;
            case UnaryOp.Silu: TensorPrimitives.Sigmoid(x, y); TensorPrimitives.Multiply(x, y, y); break;
            case UnaryOp.Relu: TensorPrimitives.Max(x, 0f, y); break;
            case UnaryOp.ReluSquared: TensorPrimitives.Max(x, 0f, y); TensorPrimitives.Multiply(y, y, y); break;
            case UnaryOp.Square: TensorPrimitives.Multiply(x, x, y); break;
            case UnaryOp.Reciprocal: TensorPrimitives.Divide(1f, x, y); break;
            case UnaryOp.GeluTanh:
                // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
                TensorPrimitives.Multiply(x, x, y);
                TensorPrimitives.Multiply(y, 0.044715f, y); TensorPrimitives.Add(y, 1f, y);
                TensorPrimitives.Multiply(y, x, y);
                TensorPrimitives.Multiply(y, 0.7978845608f, y);
                TensorPrimitives.Tanh(y, y);
                TensorPrimitives.Add(y, 1f, y);
                TensorPrimitives.Multiply(y, x, y);
                TensorPrimitives.Multiply(y, 0.5f, y);
                break;
            default: UnaryReference(op, x, y); break; // GeluErf, Sign, Erf: scalar (not on a hot path)
        }
    }

    /// <summary>The scalar definition of <see cref="Unary"/>.</summary>
    public static void UnaryReference(UnaryOp op, ReadOnlySpan<float> x, Span<float> y)
    {
        for (int i = 0; i < x.Length; i++) y[i] = UnaryScalar(op, x[i]);
    }

    /// <summary>One element of a unary op in float (erf in double).</summary>
    public static float UnaryScalar(UnaryOp op, float v) => op switch
    {
        UnaryOp.Neg => -v,
        UnaryOp.Abs => MathF.Abs(v),
        UnaryOp.Exp => MathF.Exp(v),
        UnaryOp.Log => MathF.Log(v),
        UnaryOp.Sqrt => MathF.Sqrt(v),
        UnaryOp.Rsqrt => 1f / MathF.Sqrt(v),
        UnaryOp.Tanh => MathF.Tanh(v),
        UnaryOp.Sigmoid => 1f / (1f + MathF.Exp(-v)),
        UnaryOp.Silu => v / (1f + MathF.Exp(-v)),
        UnaryOp.GeluTanh => 0.5f * v * (1f + MathF.Tanh(0.7978845608f * (v + 0.044715f * v * v * v))),
        UnaryOp.GeluErf => (float)(0.5 * v * (1.0 + DeterministicMath.Erf(v * 0.7071067811865476))),
        UnaryOp.Relu => float.IsNaN(v) ? v : MathF.Max(v, 0f),
        UnaryOp.ReluSquared => float.IsNaN(v) ? v : v > 0 ? v * v : 0f,
        UnaryOp.Square => v * v,
        UnaryOp.Reciprocal => 1f / v,
        UnaryOp.Sign => float.IsNaN(v) ? v : MathF.Sign(v),
        UnaryOp.Erf => (float)DeterministicMath.Erf(v),
        _ => throw new NotSupportedException(op.ToString()),
    };

    /// <summary>y = a op b (same length).</summary>
    public static void Binary(BinaryOp op, ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y)
    {
        var level = KernelContext.Current.Simd;
        if (level < SimdLevel.Vector128) { for (int i = 0; i < y.Length; i++) y[i] = BinaryScalar(op, a[i], b[i]); return; }
        switch (op)
        {
            case BinaryOp.Add: TensorPrimitives.Add(a, b, y); break;
            case BinaryOp.Sub: TensorPrimitives.Subtract(a, b, y); break;
            case BinaryOp.Mul: TensorPrimitives.Multiply(a, b, y); break;
            case BinaryOp.Div: TensorPrimitives.Divide(a, b, y); break;
            case BinaryOp.Pow: TensorPrimitives.Pow(a, b, y); break;
            case BinaryOp.Maximum: TensorPrimitives.Max(a, b, y); break;
            case BinaryOp.Minimum: TensorPrimitives.Min(a, b, y); break;
            default: throw new NotSupportedException(op.ToString());
        }
    }

    /// <summary>y = a op s.</summary>
    public static void BinaryRight(BinaryOp op, ReadOnlySpan<float> a, float s, Span<float> y)
    {
        var level = KernelContext.Current.Simd;
        if (level < SimdLevel.Vector128) { for (int i = 0; i < y.Length; i++) y[i] = BinaryScalar(op, a[i], s); return; }
        switch (op)
        {
            case BinaryOp.Add: TensorPrimitives.Add(a, s, y); break;
            case BinaryOp.Sub: TensorPrimitives.Subtract(a, s, y); break;
            case BinaryOp.Mul: TensorPrimitives.Multiply(a, s, y); break;
            case BinaryOp.Div: TensorPrimitives.Divide(a, s, y); break;
            case BinaryOp.Pow: TensorPrimitives.Pow(a, s, y); break;
            case BinaryOp.Maximum: TensorPrimitives.Max(a, s, y); break;
            case BinaryOp.Minimum: TensorPrimitives.Min(a, s, y); break;
            default: throw new NotSupportedException(op.ToString());
        }
    }

    /// <summary>y = s op b.</summary>
    public static void BinaryLeft(BinaryOp op, float s, ReadOnlySpan<float> b, Span<float> y)
    {
        var level = KernelContext.Current.Simd;
        if (level < SimdLevel.Vector128) { for (int i = 0; i < y.Length; i++) y[i] = BinaryScalar(op, s, b[i]); return; }
        switch (op)
        {
            case BinaryOp.Add: TensorPrimitives.Add(b, s, y); break;
            case BinaryOp.Sub: TensorPrimitives.Subtract(s, b, y); break;
            case BinaryOp.Mul: TensorPrimitives.Multiply(b, s, y); break;
            case BinaryOp.Div: TensorPrimitives.Divide(s, b, y); break;
            case BinaryOp.Pow: TensorPrimitives.Pow(s, b, y); break;
            case BinaryOp.Maximum: TensorPrimitives.Max(b, s, y); break;
            case BinaryOp.Minimum: TensorPrimitives.Min(b, s, y); break;
            default: throw new NotSupportedException(op.ToString());
        }
    }

    /// <summary>One element of a binary op; Maximum/Minimum propagate NaN.</summary>
    public static float BinaryScalar(BinaryOp op, float a, float b) => op switch
    {
        BinaryOp.Add => a + b,
        BinaryOp.Sub => a - b,
        BinaryOp.Mul => a * b,
        BinaryOp.Div => a / b,
        BinaryOp.Pow => MathF.Pow(a, b),
        BinaryOp.Maximum => float.IsNaN(a) || float.IsNaN(b) ? float.NaN : MathF.Max(a, b),
        BinaryOp.Minimum => float.IsNaN(a) || float.IsNaN(b) ? float.NaN : MathF.Min(a, b),
        _ => throw new NotSupportedException(op.ToString()),
    };
}
