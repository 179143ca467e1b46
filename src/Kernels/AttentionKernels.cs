using System.Numerics.Tensors;

namespace BitDistill.Kernels;

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

    /// <summary>Query rows per causal block: a block of rows [i0, i1) only sees keys [0, i1 + S − T), so the products of a
    /// block stop at that column and the masked upper triangle is never computed (about 40% fewer flops at T = S = 256).</summary>
    internal const int QueryBlock = 64;

    // Keys visible to query rows [i0, i1): all S, or with a causal mask up to the last row's diagonal.
    private static int VisibleKeys(in AttentionShape s, int i1) => s.Causal ? Math.Min(s.KeyLen, i1 + s.KeyLen - s.QueryLen) : s.KeyLen;

    // Columns [0, vis) of row i that the causal mask lets through (of the block's cols); the rest is −∞ and gets probability 0
    // without an exp.
    private static int Visible(in AttentionShape s, int i, int cols) => s.Causal ? Math.Clamp(i + s.KeyLen - s.QueryLen + 1, 0, cols) : cols;

    // Fills scores rows [i0, i1) × columns [0, cols) (row stride S) with q·kᵀ·scale and the masks.
    private static void Scores(in AttentionShape s, float[] q, int qOff, float[] k, int kOff, float[]? keyMask, int b, int i0, int i1, int cols, Span<float> scores)
    {
        int S = s.KeyLen, D = s.HeadDim;
        Sgemm.Multiply(false, true, i1 - i0, cols, D, s.Scale, q.AsSpan(qOff + i0 * D, (i1 - i0) * D), D, k.AsSpan(kOff, cols * D), D, 0f, scores.Slice(i0 * S), S);
        int shift = S - s.QueryLen;
        for (int i = i0; i < i1; i++)
        {
            var row = scores.Slice(i * S, cols);
            if (s.Causal && i + shift + 1 < cols) row[Math.Max(0, i + shift + 1)..].Fill(float.NegativeInfinity);
            if (keyMask is not null)
                for (int j = 0; j < cols; j++) if (keyMask[b * S + j] == 0) row[j] = float.NegativeInfinity;
        }
    }

    /// <summary>o = softmax(q·kᵀ·scale + mask)·v per head; lse receives each row's log-sum-exp (−∞ for a fully masked row,
    /// whose output is 0). keyMask is [B, S] with 1 = attend, 0 = padding, or null.</summary>
    public static void Forward(in AttentionShape shape, float[] q, int qOff, float[] k, int kOff, float[] v, int vOff,
        float[]? keyMask, float[] o, int oOff, float[] lse, int lseOff) =>
        Forward(shape, q, qOff, k, kOff, v, vOff, keyMask, o, oOff, lse, lseOff, shape.KvHeads * shape.KeyLen * shape.HeadDim, shape.KeyLen * shape.HeadDim);

    /// <summary>As <see cref="Forward(in AttentionShape, float[], int, float[], int, float[], int, float[], float[], int, float[], int)"/>
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
        var level = KernelContext.Current.Simd;
        StaticParallel.For(s.Batch * s.KvHeads, (long)s.Group * T * S * D * 2, (p0, p1) =>
        {
            var scores = new float[T * S];
            var inv = new float[QueryBlock];
            for (int p = p0; p < p1; p++)
            {
                int b = p / s.KvHeads, g = p % s.KvHeads;
                int kvo = b * kvBatchStride + g * kvHeadStride;
                for (int hh = 0; hh < s.Group; hh++)
                {
                    int h = g * s.Group + hh;
                    int qo = ((b * s.Heads + h) * T) * D;
                    for (int i0 = 0; i0 < T; i0 += QueryBlock)
                    {
                        int i1 = Math.Min(T, i0 + QueryBlock), cols = VisibleKeys(s, i1);
                        if (cols <= 0)
                        {
                            for (int i = i0; i < i1; i++) lse[lseOff + (b * s.Heads + h) * T + i] = float.NegativeInfinity;
                            o.AsSpan(oOff + qo + i0 * D, (i1 - i0) * D).Clear();
                            continue;
                        }
                        Scores(s, q, qOff + qo, k, kOff + kvo, keyMask, b, i0, i1, cols, scores);
                        // Unnormalised probabilities exp(x − max) in one pass; each output row is divided by its sum after
                        // the P·V product (D multiplies per row instead of one per visible key).
                        for (int i = i0; i < i1; i++)
                        {
                            int vis = Visible(s, i, cols);
                            scores.AsSpan(i * S + vis, cols - vis).Clear(); // causally masked tail: probability 0
                            var row = scores.AsSpan(i * S, vis);
                            float m = vis == 0 ? float.NegativeInfinity : TensorPrimitives.Max(row);
                            if (float.IsNegativeInfinity(m)) { row.Clear(); inv[i - i0] = 0f; lse[lseOff + (b * s.Heads + h) * T + i] = float.NegativeInfinity; continue; }
                            float sum = SoftmaxRows.ExpShiftSum(row, m, row, level);
                            inv[i - i0] = 1f / sum;
                            lse[lseOff + (b * s.Heads + h) * T + i] = m + MathF.Log(sum);
                        }
                        var ob = o.AsSpan(oOff + qo + i0 * D, (i1 - i0) * D);
                        Sgemm.Multiply(false, false, i1 - i0, D, cols, 1f, scores.AsSpan(i0 * S), S, v.AsSpan(vOff + kvo, cols * D), D, 0f, ob, D);
                        for (int i = 0; i < i1 - i0; i++) TensorPrimitives.Multiply(ob.Slice(i * D, D), inv[i], ob.Slice(i * D, D));
                    }
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
        var level = KernelContext.Current.Simd;
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
                    for (int i0 = 0; i0 < T; i0 += QueryBlock)
                    {
                        int i1 = Math.Min(T, i0 + QueryBlock), rows = i1 - i0, cols = VisibleKeys(s, i1);
                        if (cols <= 0) { dq.AsSpan(qo + i0 * D, rows * D).Clear(); continue; }
                        Scores(s, q, qOff + qo, k, kOff + kvo, keyMask, b, i0, i1, cols, p);
                        for (int i = i0; i < i1; i++)
                        {
                            int vis = Visible(s, i, cols);
                            p.AsSpan(i * S + vis, cols - vis).Clear();
                            var row = p.AsSpan(i * S, vis);
                            float l = lse[lseOff + (b * s.Heads + h) * T + i];
                            if (float.IsNegativeInfinity(l)) { row.Clear(); di[i] = 0; continue; }
                            SoftmaxRows.ExpShift(row, l, level);
                            di[i] = TensorPrimitives.Dot(dout.AsSpan(dOff + qo + i * D, D), o.AsSpan(oOff + qo + i * D, D));
                        }
                        var pb = p.AsSpan(i0 * S); var dpb = dp.AsSpan(i0 * S);
                        var dob = dout.AsSpan(dOff + qo + i0 * D, rows * D);
                        // dV += Pᵀ·dO
                        Sgemm.Multiply(true, false, cols, D, rows, 1f, pb, S, dob, D, 1f, dv.AsSpan(kvo, cols * D), D);
                        // dP = dO·Vᵀ ; dS = P ∘ (dP − Dᵢ)
                        Sgemm.Multiply(false, true, rows, cols, D, 1f, dob, D, v.AsSpan(vOff + kvo, cols * D), D, 0f, dpb, S);
                        for (int i = i0; i < i1; i++)
                        {
                            int vis = Visible(s, i, cols);
                            SoftmaxRows.SubtractMultiply(dp.AsSpan(i * S, vis), di[i], p.AsSpan(i * S, vis), level);
                            dp.AsSpan(i * S + vis, cols - vis).Clear();
                        }
                        // dQ = dS·K·scale ; dK += dSᵀ·Q·scale
                        Sgemm.Multiply(false, false, rows, D, cols, s.Scale, dpb, S, k.AsSpan(kOff + kvo, cols * D), D, 0f, dq.AsSpan(qo + i0 * D, rows * D), D);
                        Sgemm.Multiply(true, false, cols, D, rows, s.Scale, dpb, S, q.AsSpan(qOff + qo + i0 * D, rows * D), D, 1f, dk.AsSpan(kvo, cols * D), D);
                    }
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
