using System.Numerics.Tensors;

namespace BitDistill.Kernels;

/// <summary>Shapes of one attention call: q [B, H, T, D], k and v [B, Hkv, S, D], o [B, H, T, D], log-sum-exp [B, H, T].
/// Query i sits at key position i + (S − T), so a KV cache (S &gt; T) and causal masking compose.</summary>
public readonly record struct AttentionShape(int Batch, int Heads, int KvHeads, int QueryLen, int KeyLen, int HeadDim, float Scale, bool Causal)
{
    /// <summary>Query heads per key/value head (grouped-query attention).</summary>
    public int Group => Heads / KvHeads;
}

/// <summary>Fused scaled-dot-product attention with causal and key-padding masks and grouped-query heads. The forward keeps
/// only the output and the per-row log-sum-exp; the backward recomputes the probabilities (as FlashAttention does), so no
/// [T, S] matrix outlives a head. Work is split over (batch, kv head) pairs, so gradients of shared K/V heads are summed
/// by one thread in a fixed order (deterministic).</summary>
public static class AttentionKernels
{
    private static void Validate(in AttentionShape s)
    {
        if (s.KvHeads <= 0 || s.Heads % s.KvHeads != 0) throw new ArgumentException($"{s.Heads} query heads are not a multiple of {s.KvHeads} kv heads");
        if (s.QueryLen > s.KeyLen && s.Causal) throw new ArgumentException($"causal attention needs key length ≥ query length ({s.KeyLen} < {s.QueryLen})");
    }

    // Fills scores (T×S) for head h with q·kᵀ·scale and masks; returns nothing.
    private static void Scores(in AttentionShape s, float[] q, int qOff, float[] k, int kOff, float[]? keyMask, int b, Span<float> scores)
    {
        int T = s.QueryLen, S = s.KeyLen, D = s.HeadDim;
        Sgemm.Multiply(false, true, T, S, D, s.Scale, q.AsSpan(qOff, T * D), D, k.AsSpan(kOff, S * D), D, 0f, scores, S);
        int shift = S - T;
        for (int i = 0; i < T; i++)
        {
            var row = scores.Slice(i * S, S);
            if (s.Causal) row[Math.Min(S, i + shift + 1)..].Fill(float.NegativeInfinity);
            if (keyMask is not null)
                for (int j = 0; j < S; j++) if (keyMask[b * S + j] == 0) row[j] = float.NegativeInfinity;
        }
    }

    /// <summary>o = softmax(q·kᵀ·scale + mask)·v per head; lse receives each row's log-sum-exp (−∞ for a fully masked row,
    /// whose output is 0). keyMask is [B, S] with 1 = attend, 0 = padding, or null.</summary>
    public static void Forward(in AttentionShape shape, float[] q, int qOff, float[] k, int kOff, float[] v, int vOff,
        float[]? keyMask, float[] o, int oOff, float[] lse, int lseOff) =>
        Forward(shape, q, qOff, k, kOff, v, vOff, keyMask, o, oOff, lse, lseOff, shape.KvHeads * shape.KeyLen * shape.HeadDim, shape.KeyLen * shape.HeadDim);

    /// <summary>As <see cref="Forward(in AttentionShape, float[], int, float[], int, float[], int, float[], int, float[], int, float[], int)"/>
    /// with k and v laid out as rows of D contiguous floats per (batch, kv head) block that starts at
    /// <paramref name="kvBatchStride"/>·b + <paramref name="kvHeadStride"/>·g: the filled prefix of a preallocated KV cache
    /// [B, Hkv, capacity, D] is read in place (kvHeadStride = capacity·D) without copying it out.</summary>
    public static void Forward(in AttentionShape shape, float[] q, int qOff, float[] k, int kOff, float[] v, int vOff,
        float[]? keyMask, float[] o, int oOff, float[] lse, int lseOff, int kvBatchStride, int kvHeadStride)
    {
        var s = shape; Validate(s);
        int T = s.QueryLen, S = s.KeyLen, D = s.HeadDim;
        if (kvHeadStride < S * D || (s.Batch > 1 && kvBatchStride < s.KvHeads * kvHeadStride))
            throw new ArgumentException($"kv strides ({kvBatchStride}, {kvHeadStride}) overlap blocks of {S}×{D}");
        StaticParallel.For(s.Batch * s.KvHeads, (long)s.Group * T * S * D * 2, (p0, p1) =>
        {
            var scores = new float[T * S];
            for (int p = p0; p < p1; p++)
            {
                int b = p / s.KvHeads, g = p % s.KvHeads;
                int kvo = b * kvBatchStride + g * kvHeadStride;
                for (int hh = 0; hh < s.Group; hh++)
                {
                    int h = g * s.Group + hh;
                    int qo = ((b * s.Heads + h) * T) * D;
                    Scores(s, q, qOff + qo, k, kOff + kvo, keyMask, b, scores);
                    for (int i = 0; i < T; i++)
                    {
                        var row = scores.AsSpan(i * S, S);
                        float m = TensorPrimitives.Max(row);
                        if (float.IsNegativeInfinity(m)) { row.Clear(); lse[lseOff + (b * s.Heads + h) * T + i] = float.NegativeInfinity; continue; }
                        TensorPrimitives.Subtract(row, m, row);
                        TensorPrimitives.Exp(row, row);
                        float sum = TensorPrimitives.Sum(row);
                        TensorPrimitives.Multiply(row, 1f / sum, row);
                        lse[lseOff + (b * s.Heads + h) * T + i] = m + MathF.Log(sum);
                    }
                    Sgemm.Multiply(false, false, T, D, S, 1f, scores, S, v.AsSpan(vOff + kvo, S * D), D, 0f, o.AsSpan(oOff + qo, T * D), D);
                }
            }
        });
    }

    /// <summary>Gradients of the attention above: dq, dk, dv (overwritten) from the output gradient dout, recomputing the
    /// probabilities from q, k and the saved lse.</summary>
    public static void Backward(in AttentionShape shape, float[] q, int qOff, float[] k, int kOff, float[] v, int vOff,
        float[]? keyMask, float[] o, int oOff, float[] lse, int lseOff, float[] dout, int dOff,
        float[] dq, float[] dk, float[] dv)
    {
        var s = shape; Validate(s);
        int T = s.QueryLen, S = s.KeyLen, D = s.HeadDim;
        StaticParallel.For(s.Batch * s.KvHeads, (long)s.Group * T * S * D * 5, (p0, p1) =>
        {
            var p = new float[T * S];
            var dp = new float[T * S];
            var di = new float[T];
            for (int pi = p0; pi < p1; pi++)
            {
                int b = pi / s.KvHeads, g = pi % s.KvHeads;
                int kvo = ((b * s.KvHeads + g) * S) * D;
                dk.AsSpan(kvo, S * D).Clear();
                dv.AsSpan(kvo, S * D).Clear();
                for (int hh = 0; hh < s.Group; hh++)
                {
                    int h = g * s.Group + hh;
                    int qo = ((b * s.Heads + h) * T) * D;
                    Scores(s, q, qOff + qo, k, kOff + kvo, keyMask, b, p);
                    for (int i = 0; i < T; i++)
                    {
                        var row = p.AsSpan(i * S, S);
                        float l = lse[lseOff + (b * s.Heads + h) * T + i];
                        if (float.IsNegativeInfinity(l)) { row.Clear(); di[i] = 0; continue; }
                        TensorPrimitives.Subtract(row, l, row);
                        TensorPrimitives.Exp(row, row);
                        di[i] = TensorPrimitives.Dot(dout.AsSpan(dOff + qo + i * D, D), o.AsSpan(oOff + qo + i * D, D));
                    }
                    // dV += Pᵀ·dO
                    Sgemm.Multiply(true, false, S, D, T, 1f, p, S, dout.AsSpan(dOff + qo, T * D), D, 1f, dv.AsSpan(kvo, S * D), D);
                    // dP = dO·Vᵀ ; dS = P ∘ (dP − Dᵢ)
                    Sgemm.Multiply(false, true, T, S, D, 1f, dout.AsSpan(dOff + qo, T * D), D, v.AsSpan(vOff + kvo, S * D), D, 0f, dp, S);
                    for (int i = 0; i < T; i++)
                    {
                        var prow = p.AsSpan(i * S, S); var drow = dp.AsSpan(i * S, S);
                        TensorPrimitives.Subtract(drow, di[i], drow);
                        TensorPrimitives.Multiply(drow, prow, drow);
                    }
                    // dQ = dS·K·scale ; dK += dSᵀ·Q·scale
                    Sgemm.Multiply(false, false, T, D, S, s.Scale, dp, S, k.AsSpan(kOff + kvo, S * D), D, 0f, dq.AsSpan(qo, T * D), D);
                    Sgemm.Multiply(true, false, S, D, T, s.Scale, dp, S, q.AsSpan(qOff + qo, T * D), D, 1f, dk.AsSpan(kvo, S * D), D);
                }
            }
        });
    }

    /// <summary>Plain reference forward (double accumulation), with materialised probabilities.</summary>
    public static void ForwardReference(in AttentionShape s, float[] q, float[] k, float[] v, float[]? keyMask, float[] o)
    {
        int T = s.QueryLen, S = s.KeyLen, D = s.HeadDim, shift = S - T;
        var w = new double[S];
        for (int b = 0; b < s.Batch; b++)
            for (int h = 0; h < s.Heads; h++)
            {
                int g = h / s.Group;
                for (int i = 0; i < T; i++)
                {
                    double m = double.NegativeInfinity;
                    for (int j = 0; j < S; j++)
                    {
                        bool masked = (s.Causal && j > i + shift) || (keyMask is not null && keyMask[b * S + j] == 0);
                        double dot = 0;
                        for (int d = 0; d < D; d++) dot += (double)q[((b * s.Heads + h) * T + i) * D + d] * k[((b * s.KvHeads + g) * S + j) * D + d];
                        w[j] = masked ? double.NegativeInfinity : dot * s.Scale;
                        m = Math.Max(m, w[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < S; j++) { w[j] = double.IsNegativeInfinity(m) ? 0 : Math.Exp(w[j] - m); sum += w[j]; }
                    for (int d = 0; d < D; d++)
                    {
                        double acc = 0;
                        for (int j = 0; j < S; j++) acc += w[j] * v[((b * s.KvHeads + g) * S + j) * D + d];
                        o[((b * s.Heads + h) * T + i) * D + d] = sum == 0 ? 0 : (float)(acc / sum);
                    }
                }
            }
    }
}
