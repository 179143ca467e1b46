namespace BitDistill.Kernels;

/// <summary>Fused optimizer updates over spans (one pass over parameter, gradient and state).</summary>
public static class OptimKernels
{
    /// <summary>torch.optim.AdamW's update for one tensor. bc1 = 1 − β₁ᵗ, bc2Sqrt = √(1 − β₂ᵗ).</summary>
    public static void AdamW(Span<float> p, ReadOnlySpan<float> g, Span<float> m, Span<float> v,
        float lr, float beta1, float beta2, float eps, float weightDecay, float bc1, float bc2Sqrt)
    {
        if (g.Length != p.Length || m.Length != p.Length || v.Length != p.Length) throw new ArgumentException("AdamW: length mismatch");
        float decay = 1 - lr * weightDecay, stepSize = lr / bc1, inv = 1f / bc2Sqrt;
        for (int i = 0; i < p.Length; i++)
        {
            float gi = g[i];
            float mi = m[i] + (1 - beta1) * (gi - m[i]);
            float vi = beta2 * v[i] + (1 - beta2) * gi * gi;
            m[i] = mi; v[i] = vi;
            p[i] = p[i] * decay - stepSize * mi / (MathF.Sqrt(vi) * inv + eps);
        }
    }
}
