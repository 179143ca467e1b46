using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace BitDistill.Kernels;

/// <summary>Fused optimizer updates over spans (one pass over parameter, gradient and state).</summary>
public static class OptimKernels
{
    /// <summary>torch.optim.AdamW's update for one tensor. bc1 = 1 − β₁ᵗ, bc2Sqrt = √(1 − β₂ᵗ). Vectorised at the
    /// <see cref="KernelContext.Simd"/> level and split over threads; every element gets exactly the operations of
    /// <see cref="AdamWReference"/> (no fused multiply-adds), so the result is bitwise the reference's at every level.</summary>
    public static unsafe void AdamW(Span<float> p, ReadOnlySpan<float> g, Span<float> m, Span<float> v,
        float lr, float beta1, float beta2, float eps, float weightDecay, float bc1, float bc2Sqrt)
    {
        if (g.Length != p.Length || m.Length != p.Length || v.Length != p.Length) throw new ArgumentException("AdamW: length mismatch");
        var c = AdamConstants.From(lr, beta1, beta2, eps, weightDecay, bc1, bc2Sqrt);
        int n = p.Length;
        const int Block = 4096;
        var level = KernelContext.Current.Simd;
        fixed (float* pp = p, pg = g, pm = m, pv = v)
        {
            nint ip = (nint)pp, ig = (nint)pg, im = (nint)pm, iv = (nint)pv;
            StaticParallel.For((n + Block - 1) / Block, Block * 8L, (b0, b1) =>
            {
                int s = b0 * Block, e = Math.Min(n, b1 * Block);
                AdamWRange(level, (float*)ip + s, (float*)ig + s, (float*)im + s, (float*)iv + s, e - s, c);
            });
        }
    }

    private readonly record struct AdamConstants(float B1c, float B2, float B2c, float Eps, float Decay, float StepSize, float Inv)
    {
        public static AdamConstants From(float lr, float beta1, float beta2, float eps, float weightDecay, float bc1, float bc2Sqrt)
            => new(1 - beta1, beta2, 1 - beta2, eps, 1 - lr * weightDecay, lr / bc1, 1f / bc2Sqrt);
    }

    private static unsafe void AdamWRange(SimdLevel level, float* p, float* g, float* m, float* v, int n, in AdamConstants c)
    {
        int i = 0;
        if (level >= SimdLevel.Vector512 && Vector512.IsHardwareAccelerated)
        {
            var b1c = Vector512.Create(c.B1c); var b2 = Vector512.Create(c.B2); var b2c = Vector512.Create(c.B2c); var eps = Vector512.Create(c.Eps);
            var decay = Vector512.Create(c.Decay); var step = Vector512.Create(c.StepSize); var inv = Vector512.Create(c.Inv);
            for (; i <= n - 16; i += 16)
            {
                var gi = Vector512.Load(g + i); var mi0 = Vector512.Load(m + i);
                var mi = mi0 + b1c * (gi - mi0);
                var vi = b2 * Vector512.Load(v + i) + b2c * gi * gi;
                mi.Store(m + i); vi.Store(v + i);
                (Vector512.Load(p + i) * decay - step * mi / (Vector512.Sqrt(vi) * inv + eps)).Store(p + i);
            }
        }
        if (level >= SimdLevel.Vector256 && Vector256.IsHardwareAccelerated)
        {
            var b1c = Vector256.Create(c.B1c); var b2 = Vector256.Create(c.B2); var b2c = Vector256.Create(c.B2c); var eps = Vector256.Create(c.Eps);
            var decay = Vector256.Create(c.Decay); var step = Vector256.Create(c.StepSize); var inv = Vector256.Create(c.Inv);
            for (; i <= n - 8; i += 8)
            {
                var gi = Vector256.Load(g + i); var mi0 = Vector256.Load(m + i);
                var mi = mi0 + b1c * (gi - mi0);
                var vi = b2 * Vector256.Load(v + i) + b2c * gi * gi;
                mi.Store(m + i); vi.Store(v + i);
                (Vector256.Load(p + i) * decay - step * mi / (Vector256.Sqrt(vi) * inv + eps)).Store(p + i);
            }
        }
        if (level >= SimdLevel.Vector128 && Vector128.IsHardwareAccelerated)
        {
            var b1c = Vector128.Create(c.B1c); var b2 = Vector128.Create(c.B2); var b2c = Vector128.Create(c.B2c); var eps = Vector128.Create(c.Eps);
            var decay = Vector128.Create(c.Decay); var step = Vector128.Create(c.StepSize); var inv = Vector128.Create(c.Inv);
            for (; i <= n - 4; i += 4)
            {
                var gi = Vector128.Load(g + i); var mi0 = Vector128.Load(m + i);
                var mi = mi0 + b1c * (gi - mi0);
                var vi = b2 * Vector128.Load(v + i) + b2c * gi * gi;
                mi.Store(m + i); vi.Store(v + i);
                (Vector128.Load(p + i) * decay - step * mi / (Vector128.Sqrt(vi) * inv + eps)).Store(p + i);
            }
        }
        for (; i < n; i++) Scalar(ref p[i], g[i], ref m[i], ref v[i], c);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Scalar(ref float p, float g, ref float m, ref float v, in AdamConstants c)
    {
        float mi = m + c.B1c * (g - m);
        float vi = c.B2 * v + c.B2c * g * g;
        m = mi; v = vi;
        p = p * c.Decay - c.StepSize * mi / (MathF.Sqrt(vi) * c.Inv + c.Eps);
    }

    /// <summary>The plain scalar loop that defines <see cref="AdamW"/> (single-threaded).</summary>
    public static void AdamWReference(Span<float> p, ReadOnlySpan<float> g, Span<float> m, Span<float> v,
        float lr, float beta1, float beta2, float eps, float weightDecay, float bc1, float bc2Sqrt)
    {
        if (g.Length != p.Length || m.Length != p.Length || v.Length != p.Length) throw new ArgumentException("AdamW: length mismatch");
        var c = AdamConstants.From(lr, beta1, beta2, eps, weightDecay, bc1, bc2Sqrt);
        for (int i = 0; i < p.Length; i++) Scalar(ref p[i], g[i], ref m[i], ref v[i], c);
    }
}
