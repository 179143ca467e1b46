using ILGPU;
using ILGPU.Algorithms;

namespace BitDistill.Backends.Ilgpu;

// The distillation losses (the semantics of IBackend.LinearKlDistillation, LinearCrossEntropyWithDistillation and
// AttentionRelationKl): one thread per row computes the row's loss and its gradient row in one pass set, in the shifted
// form of DistillationKernels' CPU row kernels (float exps, double sums), so nothing but the final loss leaves the device.
// The kept-row counts are computed on the device too (one thread), and the row kernels read them from there. These are
// the CPU emulator's forms; IlgpuKernels.DistillationGroups holds the GPUs' (a group per row).
internal static partial class IlgpuKernels
{
    /// <summary>One thread: count[0] = factor · (the entries of mask [n] that are ≠ 0, or n without a mask).</summary>
    public static void KeptCount(Index1D i, ArrayView<float> mask, int n, int hasMask, float factor, ArrayView<float> count)
    {
        int kept = n;
        if (hasMask != 0)
        {
            kept = 0;
            for (int j = 0; j < n; j++) if (mask[j] != 0) kept++;
        }
        count[0] = factor * kept;
    }

    /// <summary>One thread: count[0] = the targets [n] that are ≠ ignoreIndex.</summary>
    public static void TargetCount(Index1D i, ArrayView<long> targets, int n, long ignoreIndex, ArrayView<float> count)
    {
        int kept = 0;
        for (int j = 0; j < n; j++) if (targets[j] != ignoreIndex) kept++;
        count[0] = kept;
    }

    /// <summary>One thread: result[slot] = Σ rows [n] (in double) / divisor · scale, the divisor being hostDivisor when it is
    /// positive and count[0] otherwise; 0 when the divisor is 0 (no kept row: every row's term is 0).</summary>
    public static void LossMean(Index1D i, ArrayView<float> rows, int n, ArrayView<float> count, float hostDivisor, float scale,
        ArrayView<float> result, int slot)
    {
        double sum = 0;
        for (int j = 0; j < n; j++) sum += rows[j];
        double divisor = hostDivisor > 0 ? hostDivisor : count[0];
        result[slot] = divisor == 0 ? 0f : (float)(sum / divisor * scale);
    }

    // the tempered KL of row b of s (student) and t (teacher) logits [rows, n]: max-shifted a = (s − max s)/τ and
    // b = (t − max t)/τ, KL = Σ e^b·(b − a)/Σ e^b + log Σ e^a − log Σ e^b (DistillationKernels.TemperedKlAndGradReference);
    // returns the KL and 1/Σ e^a, 1/Σ e^b, and the maxima for the gradient pass
    private static (float Kl, float InvS, float InvT, float Ms, float Mt) TemperedKl(ArrayView<float> s, ArrayView<float> t, int b, int n, float invTau)
    {
        float ms = RowMax(s, b, n), mt = RowMax(t, b, n);
        double sumS = 0, sumT = 0, cross = 0;
        for (int j = 0; j < n; j++)
        {
            float a = (s[b + j] - ms) * invTau, bt = (t[b + j] - mt) * invTau;
            float es = XMath.Exp(a), et = XMath.Exp(bt);
            sumS += es; sumT += et; cross += et * (bt - a);
        }
        return ((float)(cross / sumT + XMath.Log(sumS / sumT)), (float)(1 / sumS), (float)(1 / sumT), ms, mt);
    }

    /// <summary>Row r of the logits distillation: rowKl[r] = KL(softmax(t/τ) ‖ softmax(s/τ)) for a kept row (mask[r] ≠ 0 or no
    /// mask), 0 otherwise; with withGrad the student row s [rows, n] is overwritten by its gradient τ/count[0]·(p_S − p_T)
    /// (zero for a dropped row), count[0] being the kept rows.</summary>
    public static void TemperedKlRows(Index1D r, ArrayView<float> s, ArrayView<float> t, ArrayView<float> mask, ArrayView<float> count,
        ArrayView<float> rowKl, int n, float invTau, float tau, int hasMask, int withGrad)
    {
        int b = r * n;
        if (hasMask != 0 && mask[r] == 0)
        {
            rowKl[r] = 0;
            if (withGrad != 0) for (int j = 0; j < n; j++) s[b + j] = 0;
            return;
        }
        var (kl, invS, invT, ms, mt) = TemperedKl(s, t, b, n, invTau);
        rowKl[r] = kl;
        if (withGrad == 0) return;
        float scale = tau / XMath.Max(1f, count[0]);
        for (int j = 0; j < n; j++)
            s[b + j] = scale * (XMath.Exp((s[b + j] - ms) * invTau) * invS - XMath.Exp((t[b + j] - mt) * invTau) * invT);
    }

    /// <summary>Row r of stage 3's CE + λ·LD over the same student logits s [rows, n]: for a row with a target, ceRow[r] =
    /// lse − s[target] and klRow[r] the tempered KL against the teacher row; with withGrad s is overwritten by
    /// ceScale·(softmax(s) − onehot) + λ·τ/count[0]·(p_S − p_T) (count[0]: the rows with a target). An ignored row gets 0.</summary>
    public static void LinearCeKlRows(Index1D r, ArrayView<float> s, ArrayView<float> t, ArrayView<long> targets, ArrayView<float> count,
        ArrayView<float> ceRow, ArrayView<float> klRow, int n, long ignoreIndex, float invTau, float tau, float ceScale, float logitsWeight, int withGrad)
    {
        int b = r * n;
        long tg = targets[r];
        if (tg == ignoreIndex)
        {
            ceRow[r] = 0; klRow[r] = 0;
            if (withGrad != 0) for (int j = 0; j < n; j++) s[b + j] = 0;
            return;
        }
        float ms = RowMax(s, b, n), se = 0;
        for (int j = 0; j < n; j++) se += XMath.Exp(s[b + j] - ms);
        float lse = ms + XMath.Log(se);
        ceRow[r] = lse - s[b + (int)tg];
        var (kl, invS, invT, tms, mt) = TemperedKl(s, t, b, n, invTau);
        klRow[r] = kl;
        if (withGrad == 0) return;
        float klScale = logitsWeight * tau / XMath.Max(1f, count[0]);
        for (int j = 0; j < n; j++)
        {
            float v = s[b + j];
            float ce = ceScale * (XMath.Exp(v - lse) - (j == tg ? 1f : 0f));
            s[b + j] = ce + klScale * (XMath.Exp((v - tms) * invTau) * invS - XMath.Exp((t[b + j] - mt) * invTau) * invT);
        }
    }

    // the relation score scale·a_i·a_j of rows i and j of one [T, dim] block starting at o
    private static float RelationScore(ArrayView<float> a, int o, int i, int j, int dim, float scale)
    {
        float dot = 0;
        for (int x = 0; x < dim; x++) dot += a[o + i * dim + x] * a[o + j * dim + x];
        return dot * scale;
    }

    /// <summary>Query row p = (b·R + h)·T + i of the attention-relation KL: the relation rows softmax(scale·a_i·Aᵀ) of student
    /// a [B, R, T, d] and teacher at [B, R, T, d′] over the unpadded keys, rowKl[p] = KL(teacher ‖ student) in the shifted
    /// form Σ e_T·(t − s)/Σ_T − m_T − log Σ_T + m_S + log Σ_S (DistillationKernels.RelationKlAndGradReference), and with
    /// WithGrad the row of g [B, R, T, T] = p_S − p_T, the unscaled gradient w.r.t. the student scores (0 at padded keys).
    /// A padded query row gets 0 and a zero gradient row.</summary>
    public static void RelationRows(Index1D p, ArrayView<float> a, ArrayView<float> at, ArrayView<float> mask, ArrayView<float> rowKl,
        ArrayView<float> g, RelationDims d)
    {
        int i = p % d.T, blk = p / d.T, b = blk / d.Heads;
        int so = blk * d.T * d.StudentDim, to = blk * d.T * d.TeacherDim, go = p * d.T;
        if (d.Padded(mask, b, i))
        {
            rowKl[p] = 0;
            if (d.WithGrad != 0) for (int j = 0; j < d.T; j++) g[go + j] = 0;
            return;
        }
        float ms = float.NegativeInfinity, mt = float.NegativeInfinity;
        for (int j = 0; j < d.T; j++)
        {
            if (d.Padded(mask, b, j)) continue;
            ms = XMath.Max(ms, RelationScore(a, so, i, j, d.StudentDim, d.StudentScale));
            mt = XMath.Max(mt, RelationScore(at, to, i, j, d.TeacherDim, d.TeacherScale));
        }
        double sumS = 0, sumT = 0, cross = 0;
        for (int j = 0; j < d.T; j++)
        {
            if (d.Padded(mask, b, j)) continue;
            float ss = RelationScore(a, so, i, j, d.StudentDim, d.StudentScale), st = RelationScore(at, to, i, j, d.TeacherDim, d.TeacherScale);
            float et = XMath.Exp(st - mt);
            sumS += XMath.Exp(ss - ms); sumT += et; cross += (double)et * (st - ss);
        }
        rowKl[p] = (float)(cross / sumT - mt - XMath.Log(sumT) + ms + XMath.Log(sumS));
        if (d.WithGrad == 0) return;
        float invS = (float)(1 / sumS), invT = (float)(1 / sumT);
        for (int j = 0; j < d.T; j++)
            g[go + j] = d.Padded(mask, b, j) ? 0f
                : XMath.Exp(RelationScore(a, so, i, j, d.StudentDim, d.StudentScale) - ms) * invS
                  - XMath.Exp(RelationScore(at, to, i, j, d.TeacherDim, d.TeacherScale) - mt) * invT;
    }

    /// <summary>Element e of dA_S [B, R, T, d] = scale/max(1, count[0]) · Σ_j (G[i, j] + G[j, i])·a[j] (G: the relation
    /// rows' score gradients of <see cref="RelationRows"/>, both as query and as key; count[0]: R × the kept tokens).</summary>
    public static void RelationGrad(Index1D e, ArrayView<float> a, ArrayView<float> g, ArrayView<float> count, ArrayView<float> grad, RelationDims d)
    {
        int x = e % d.StudentDim, row = e / d.StudentDim, i = row % d.T, blk = row / d.T;
        int go = blk * d.T * d.T, ao = blk * d.T * d.StudentDim;
        float acc = 0;
        for (int j = 0; j < d.T; j++) acc += (g[go + i * d.T + j] + g[go + j * d.T + i]) * a[ao + j * d.StudentDim + x];
        grad[e] = acc * (d.StudentScale / XMath.Max(1f, count[0]));
    }
}
