using System.Buffers;

namespace BitDistill.Kernels;

/// <summary>A ternary linear layer's forward on float activations: per-token absmax INT8 quantisation (<see cref="ActivationQuantizer"/>)
/// followed by <see cref="TernaryGemm"/>; y [m, N] = x [m, K] · Wᵀ with W the packed ternary matrix. Allocation-free in steady state.</summary>
public static unsafe class TernaryLinear
{
    /// <summary>y[m, N] = dequant(quant(x)) · dequant(W)ᵀ computed as exact int32 products and one float epilogue per output.</summary>
    public static void Forward(ReadOnlySpan<float> x, int m, PackedTernaryMatrix w, Span<float> y)
    {
        int k = w.Cols, kp = w.PaddedCols;
        TernaryQuantizer.CheckLength(x.Length, m * k, nameof(x));
        TernaryQuantizer.CheckLength(y.Length, m * w.Rows, nameof(y));
        if (m == 0 || w.Rows == 0) return;
        var ctx = KernelContext.Current;
        var xq = ArrayPool<sbyte>.Shared.Rent(m * kp);
        var scales = ArrayPool<float>.Shared.Rent(m);
        var sums = ArrayPool<int>.Shared.Rent(m);
        try
        {
            for (int t = 0; t < m; t++)
            {
                ActivationQuantizer.QuantizePerToken(x.Slice(t * k, k), 1, k, xq.AsSpan(t * kp, k), scales.AsSpan(t, 1), sums.AsSpan(t, 1));
                xq.AsSpan(t * kp + k, kp - k).Clear();
            }
            fixed (sbyte* px = xq) fixed (int* ps = sums) fixed (float* pscale = scales) fixed (float* py = y)
                TernaryGemm.Compute(ctx, px, ps, m, w, null, py, pscale);
        }
        finally
        {
            ArrayPool<sbyte>.Shared.Return(xq);
            ArrayPool<float>.Shared.Return(scales);
            ArrayPool<int>.Shared.Return(sums);
        }
    }
}
