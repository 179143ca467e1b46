using ILGPU;
using ILGPU.Algorithms;

namespace BitDistill.Backends.Ilgpu;

// Scaled-dot-product attention with grouped-query heads, causal and key-padding masks (the semantics of
// IBackend.Attention): one thread per query row for the forward and dq, one per key row for dk and dv (so no atomics).
// Contiguous q [B, H, T, D], k and v [B, Hkv, S, D], o and dq like q, lse and delta [B, H, T].
internal static partial class IlgpuKernels
{
    private static float Score(ArrayView<float> q, int qo, ArrayView<float> k, int ko, int d, float scale)
    {
        float dot = 0;
        for (int x = 0; x < d; x++) dot += q[qo + x] * k[ko + x];
        return dot * scale;
    }

    /// <summary>Row r = (b·H + h)·T + i: an online log-sum-exp pass over the visible keys, then o = Σ_j exp(s_j − lse)·v_j.
    /// A row that sees no key gets lse −∞ and output 0.</summary>
    public static void AttentionForward(Index1D r, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> mask,
        ArrayView<float> o, ArrayView<float> lse, AttentionDims a)
    {
        int i = r % a.T, bh = r / a.T, h = bh % a.Heads, b = bh / a.Heads;
        int qo = r * a.D, kb = (b * a.KvHeads + h / a.Group) * a.S;
        float m = float.NegativeInfinity, l = 0;
        for (int j = 0; j < a.S; j++)
        {
            if (a.Masked(mask, b, i, j)) continue;
            float s = Score(q, qo, k, (kb + j) * a.D, a.D, a.Scale);
            if (s > m) { l = l * XMath.Exp(m - s) + 1; m = s; }
            else l += XMath.Exp(s - m);
        }
        for (int x = 0; x < a.D; x++) o[qo + x] = 0;
        if (l == 0) { lse[r] = float.NegativeInfinity; return; }
        float total = m + XMath.Log(l);
        for (int j = 0; j < a.S; j++)
        {
            if (a.Masked(mask, b, i, j)) continue;
            int ko = (kb + j) * a.D;
            float p = XMath.Exp(Score(q, qo, k, ko, a.D, a.Scale) - total);
            for (int x = 0; x < a.D; x++) o[qo + x] += p * v[ko + x];
        }
        lse[r] = total;
    }

    /// <summary>Query row r: delta = Σ_d dO·O (stored for the key-row kernel), and dq = Σ_j p_j (dO·v_j − delta)·scale·k_j.</summary>
    public static void AttentionBackwardQuery(Index1D r, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> mask,
        ArrayView<float> o, ArrayView<float> lse, ArrayView<float> g, ArrayView<float> delta, ArrayView<float> dq, AttentionDims a)
    {
        int i = r % a.T, bh = r / a.T, h = bh % a.Heads, b = bh / a.Heads;
        int qo = r * a.D, kb = (b * a.KvHeads + h / a.Group) * a.S;
        float di = 0;
        for (int x = 0; x < a.D; x++) { di += g[qo + x] * o[qo + x]; dq[qo + x] = 0; }
        delta[r] = di;
        float l = lse[r];
        if (l == float.NegativeInfinity) return;
        for (int j = 0; j < a.S; j++)
        {
            if (a.Masked(mask, b, i, j)) continue;
            int ko = (kb + j) * a.D;
            float p = XMath.Exp(Score(q, qo, k, ko, a.D, a.Scale) - l);
            float dp = 0;
            for (int x = 0; x < a.D; x++) dp += g[qo + x] * v[ko + x];
            float ds = p * (dp - di) * a.Scale;
            for (int x = 0; x < a.D; x++) dq[qo + x] += ds * k[ko + x];
        }
    }

    /// <summary>Key row c = (b·Hkv + g)·S + j: over the group's query heads and every query that sees key j,
    /// dv_j = Σ p·dO and dk_j = Σ p (dO·v_j − delta)·scale·q (p recomputed from the saved lse).</summary>
    public static void AttentionBackwardKey(Index1D c, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> mask,
        ArrayView<float> lse, ArrayView<float> g, ArrayView<float> delta, ArrayView<float> dk, ArrayView<float> dv, AttentionDims a)
    {
        int j = c % a.S, bg = c / a.S, kvh = bg % a.KvHeads, b = bg / a.KvHeads;
        int ko = c * a.D;
        for (int x = 0; x < a.D; x++) { dk[ko + x] = 0; dv[ko + x] = 0; }
        for (int h = kvh * a.Group; h < (kvh + 1) * a.Group; h++)
            for (int i = 0; i < a.T; i++)
            {
                if (a.Masked(mask, b, i, j)) continue;
                int r = (b * a.Heads + h) * a.T + i;
                float l = lse[r];
                if (l == float.NegativeInfinity) continue;
                int qo = r * a.D;
                float p = XMath.Exp(Score(q, qo, k, ko, a.D, a.Scale) - l);
                float dp = 0;
                for (int x = 0; x < a.D; x++) { dp += g[qo + x] * v[ko + x]; dv[ko + x] += p * g[qo + x]; }
                float ds = p * (dp - delta[r]) * a.Scale;
                for (int x = 0; x < a.D; x++) dk[ko + x] += ds * q[qo + x];
            }
    }
}
