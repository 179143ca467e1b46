namespace BitDistill.Kernels;

/// <summary>Ternary weights from a quantiser: codes in {−1, 0, 1} [Rows, Cols], one scale (per tensor) or one per row,
/// optional per-input-channel scales (AWQ: the layer input is divided by them first), and the effective dequantised weight
/// (what multiplies the raw input: codes·scale, divided column-wise by the input scales when present). The scales are part of
/// the result: after a refit they are not the absmean of the weights, so a consumer stores them instead of recomputing.</summary>
public sealed record TernaryQuantization(int Rows, int Cols, sbyte[] Codes, float[] Scales, float[]? InputScales, float[] Dequantized)
{
    /// <summary>True when there is one scale per output row (false: one per-tensor scale).</summary>
    public bool PerRowScale => Scales.Length == Rows && Scales.Length != 1;

    /// <summary>The weight scale that applies to a row.</summary>
    public float ScaleOf(int row) => Scales.Length == 1 ? Scales[0] : Scales[row];

    /// <summary>The scale of every row [Rows] (a per-tensor scale repeated).</summary>
    public float[] RowScales()
    {
        var s = new float[Rows];
        for (int r = 0; r < Rows; r++) s[r] = ScaleOf(r);
        return s;
    }

    /// <summary>codes·scale per row [Rows, Cols], row-major: the weight before any input scaling (for AWQ, the weight the layer
    /// applies to x / s; <see cref="Dequantized"/> is the one that applies to x).</summary>
    public float[] RowScaledCodes()
    {
        var w = new float[Rows * Cols];
        for (int r = 0; r < Rows; r++)
        {
            float s = ScaleOf(r);
            for (int c = 0; c < Cols; c++) w[r * Cols + c] = Codes[r * Cols + c] * s;
        }
        return w;
    }
}
