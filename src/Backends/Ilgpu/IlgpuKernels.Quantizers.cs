using ILGPU;
using ILGPU.Algorithms;
using BitDistill.Kernels;

namespace BitDistill.Backends.Ilgpu;

// BitNet's quantisers and the ternary product on the device, with the CPU kernels' float operations (so codes and scales
// agree exactly): per-token absmax INT8 activations, absmean ternary weights (per tensor or per row, or with fixed per-row
// scales), and the int32 product of INT8 activations with ternary codes. A non-finite input makes its row's scale NaN
// (the CPU kernels throw instead; on the device the NaN reaches the loss, where the trainer's divergence check stops).
internal static partial class IlgpuKernels
{
    /// <summary>Row r of x [m, k]: scale = 127 / max(max|x|, ε), codes = clamp(round_half_even(x·scale), −128, 127).</summary>
    public static void QuantizeActivationRows(Index1D r, ArrayView<float> x, ArrayView<sbyte> q, ArrayView<float> scales, int k)
    {
        int b = r * k;
        float max = 0;
        bool finite = true;
        for (int c = 0; c < k; c++)
        {
            float v = x[b + c];
            if (float.IsNaN(v) || float.IsInfinity(v)) finite = false;
            else max = XMath.Max(max, XMath.Abs(v));
        }
        float scale = finite ? 127f / XMath.Max(max, TernaryQuantizer.Epsilon) : float.NaN;
        scales[r] = scale;
        for (int c = 0; c < k; c++)
        {
            float y = XMath.RoundToEven(x[b + c] * scale);
            q[b + c] = (sbyte)(y >= 127f ? 127 : y <= -128f ? -128 : float.IsNaN(y) ? 0 : (int)y);
        }
    }

    /// <summary>Σ|w| of row r of w [n, k], in double in column order (as the CPU's absmean).</summary>
    public static void RowAbsSums(Index1D r, ArrayView<float> w, ArrayView<double> sums, int k)
    {
        double s = 0;
        for (int c = 0; c < k; c++) s += XMath.Abs(w[r * k + c]);
        sums[r] = s;
    }

    /// <summary>Absmean scales from row sums: per row, max((float)(sum / k), ε); per tensor (one thread), the rows' sums in
    /// order over n·k. An empty matrix gets ε.</summary>
    public static void AbsMeanScales(Index1D r, ArrayView<double> sums, ArrayView<float> scales, int k, int rows, int perTensor)
    {
        double s = 0;
        long count = k;
        if (perTensor != 0) { for (int i = 0; i < rows; i++) s += sums[i]; count = (long)rows * k; }
        else s = sums[r];
        scales[r] = count == 0 ? TernaryQuantizer.Epsilon : XMath.Max((float)(s / count), TernaryQuantizer.Epsilon);
    }

    /// <summary>Element i of w [n, k]: code = clamp(round_half_even(w / roundScale), −1, 1) (the reciprocal in float, as on
    /// the CPU), dequantised code·scale; per tensor both scales are element 0, else row i / k's.</summary>
    public static void TernarizeElements(Index1D i, ArrayView<float> w, ArrayView<float> roundScales, ArrayView<float> scales,
        ArrayView<sbyte> codes, ArrayView<float> dequantized, int k, int perTensor)
    {
        int r = perTensor != 0 ? 0 : i / k;
        float v = XMath.RoundToEven(w[i] * (1f / roundScales[r]));
        int code = v >= 1f ? 1 : v <= -1f ? -1 : 0;
        codes[i] = (sbyte)code;
        dequantized[i] = code * scales[r];
    }

    /// <summary>The W2A8 product from unpacked codes, one thread per output (m, n): int32 Σ_k x[m, k]·w[n, k], then
    /// acc / xScale[m] · wScale (per tensor: wScales[0]; per row: wScales[n]) — the same integers as the packed product.</summary>
    public static void TernaryCodesMatMul(Index1D i, ArrayView<sbyte> x, ArrayView<float> xScales, ArrayView<sbyte> w, ArrayView<float> wScales,
        ArrayView<float> y, int rows, int k, int perRow)
    {
        int m = i / rows, n = i - m * rows;
        int acc = 0, xb = m * k, wb = n * k;
        for (int c = 0; c < k; c++) acc += x[xb + c] * w[wb + c];
        y[i] = acc / xScales[m] * (perRow != 0 ? wScales[n] : wScales[0]);
    }
}
