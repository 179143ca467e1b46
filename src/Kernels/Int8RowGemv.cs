using System.Numerics.Tensors;

namespace BitDistill.Kernels;

/// <summary>Matrix–vector products with an INT8 weight matrix and one float scale per row (the deployed lm_head or embedding
/// table at 8 bits): y[n] = scale[n] · Σ_k q[n, k]·x[k], with q = round(w / scale), scale = max|w_row| / 127 (symmetric absmax).</summary>
public static class Int8RowGemv
{
    private const int Chunk = 512;

    /// <summary>Quantises a row-major [n, k] float matrix row by row into <paramref name="q"/> and <paramref name="scales"/> [n]
    /// (round half to even; an all-zero row gets scale 0 and codes 0). A non-finite weight throws, naming its (row, col).</summary>
    public static void Quantize(ReadOnlySpan<float> w, int n, int k, Span<sbyte> q, Span<float> scales)
    {
        TernaryQuantizer.CheckShape(w.Length, n, k);
        TernaryQuantizer.CheckLength(q.Length, w.Length, nameof(q));
        TernaryQuantizer.CheckLength(scales.Length, n, nameof(scales));
        for (int r = 0; r < n; r++)
        {
            var row = w.Slice(r * k, k);
            float max = 0;
            for (int c = 0; c < k; c++)
            {
                if (!float.IsFinite(row[c])) throw new ArgumentException($"w[{r}, {c}] = {row[c]} is not finite", nameof(w));
                max = Math.Max(max, Math.Abs(row[c]));
            }
            float scale = max / 127f;
            scales[r] = scale;
            for (int c = 0; c < k; c++)
                q[r * k + c] = scale == 0 ? (sbyte)0 : (sbyte)Math.Clamp(MathF.Round(row[c] / scale, MidpointRounding.ToEven), -127f, 127f);
        }
    }

    /// <summary>y = diag(scales)·Q·x with Q int8 [n, k]. Rows are converted to float in chunks on the stack (no allocation).</summary>
    public static void Multiply(ReadOnlySpan<sbyte> q, ReadOnlySpan<float> scales, int n, int k, ReadOnlySpan<float> x, Span<float> y)
    {
        Check(q.Length, scales.Length, n, k, x.Length, y.Length);
        Span<float> buf = stackalloc float[Chunk];
        for (int r = 0; r < n; r++)
        {
            float s = 0;
            for (int c = 0; c < k; c += Chunk)
            {
                int m = Math.Min(Chunk, k - c);
                TensorPrimitives.ConvertTruncating<sbyte, float>(q.Slice(r * k + c, m), buf[..m]);
                s += TensorPrimitives.Dot<float>(buf[..m], x.Slice(c, m));
            }
            y[r] = s * scales[r];
        }
    }

    /// <summary>Scalar oracle of <see cref="Multiply"/> (double accumulation).</summary>
    public static void MultiplyReference(ReadOnlySpan<sbyte> q, ReadOnlySpan<float> scales, int n, int k, ReadOnlySpan<float> x, Span<float> y)
    {
        Check(q.Length, scales.Length, n, k, x.Length, y.Length);
        for (int r = 0; r < n; r++)
        {
            double s = 0;
            for (int c = 0; c < k; c++) s += (double)q[r * k + c] * x[c];
            y[r] = (float)(s * scales[r]);
        }
    }

    private static void Check(int qLength, int scaleLength, int n, int k, int xLength, int yLength)
    {
        TernaryQuantizer.CheckShape(qLength, n, k);
        TernaryQuantizer.CheckLength(scaleLength, n, "scales");
        TernaryQuantizer.CheckLength(xLength, k, "x");
        TernaryQuantizer.CheckLength(yLength, n, "y");
    }
}
