using ILGPU;
using ILGPU.Algorithms;

namespace BitDistill.Backends.Ilgpu;

// The GPUs' forms of the distillation kernels (IlgpuKernels.Distillation): a group per row for the row losses, with the
// per-row kernels' passes (maxima, then the double sums, then the gradient row) each split over the group's threads; one
// group striding over the rows for the kept-row counts and the mean (counts summed in double: exact).
internal static partial class IlgpuKernels
{
    /// <summary>One group: count[0] = <see cref="KeptCount"/>'s count.</summary>
    public static void KeptCountGrouped(ArrayView<float> mask, int n, int hasMask, float factor, ArrayView<float> count)
    {
        var sh = SharedMemory.Allocate<double>(RowGroup);
        int t = Group.IdxX, kept = 0;
        for (int j = t; j < n; j += RowGroup) if (hasMask == 0 || mask[j] != 0) kept++;
        sh[t] = kept;
        TreeSum(sh, 1);
        if (t == 0) count[0] = factor * (int)sh[0];
    }

    /// <summary>One group: count[0] = <see cref="TargetCount"/>'s count.</summary>
    public static void TargetCountGrouped(ArrayView<long> targets, int n, long ignoreIndex, ArrayView<float> count)
    {
        var sh = SharedMemory.Allocate<double>(RowGroup);
        int t = Group.IdxX, kept = 0;
        for (int j = t; j < n; j += RowGroup) if (targets[j] != ignoreIndex) kept++;
        sh[t] = kept;
        TreeSum(sh, 1);
        if (t == 0) count[0] = (int)sh[0];
    }

    /// <summary>One group: result[slot] = <see cref="LossMean"/>'s mean (the sum in double).</summary>
    public static void LossMeanGrouped(ArrayView<float> rows, int n, ArrayView<float> count, float hostDivisor, float scale, ArrayView<float> result, int slot)
    {
        var sh = SharedMemory.Allocate<double>(RowGroup);
        int t = Group.IdxX;
        double sum = 0;
        for (int j = t; j < n; j += RowGroup) sum += rows[j];
        sh[t] = sum;
        TreeSum(sh, 1);
        if (t != 0) return;
        double divisor = hostDivisor > 0 ? hostDivisor : count[0];
        result[slot] = divisor == 0 ? 0f : (float)(sh[0] / divisor * scale);
    }

    // The group's TemperedKl of row b of s and t [rows, n] (and with withCe Σ e^(s − max s) for the row's cross-entropy):
    // the maxima by one tree, then the double sums by another. mx holds 2·RowGroup floats, sums 4·RowGroup doubles.
    private static (float Kl, float InvS, float InvT, float Ms, float Mt, float SumE) GroupTemperedKl(ArrayView<float> mx, ArrayView<double> sums,
        ArrayView<float> s, ArrayView<float> t, int b, int n, float invTau, int withCe)
    {
        int th = Group.IdxX;
        float ms = float.NegativeInfinity, mt = float.NegativeInfinity;
        for (int j = th; j < n; j += RowGroup) { ms = MaxNaN(ms, s[b + j]); mt = MaxNaN(mt, t[b + j]); }
        mx[th] = ms; mx[RowGroup + th] = mt;
        TreeMax(mx, 2);
        ms = mx[0]; mt = mx[RowGroup];
        double sumS = 0, sumT = 0, cross = 0;
        float se = 0;
        for (int j = th; j < n; j += RowGroup)
        {
            float sv = s[b + j];
            float a = (sv - ms) * invTau, bt = (t[b + j] - mt) * invTau;
            float es = XMath.Exp(a), et = XMath.Exp(bt);
            sumS += es; sumT += et; cross += et * (bt - a);
            if (withCe != 0) se += XMath.Exp(sv - ms);
        }
        sums[th] = sumS; sums[RowGroup + th] = sumT; sums[2 * RowGroup + th] = cross; sums[3 * RowGroup + th] = se;
        TreeSum(sums, 4);
        sumS = sums[0]; sumT = sums[RowGroup]; cross = sums[2 * RowGroup];
        return ((float)(cross / sumT + XMath.Log(sumS / sumT)), (float)(1 / sumS), (float)(1 / sumT), ms, mt, (float)sums[3 * RowGroup]);
    }

    /// <summary>Row Grid.IdxX of <see cref="TemperedKlRows"/>.</summary>
    public static void TemperedKlRowsGrouped(ArrayView<float> s, ArrayView<float> t, ArrayView<float> mask, ArrayView<float> count,
        ArrayView<float> rowKl, int n, float invTau, float tau, int hasMask, int withGrad)
    {
        var mx = SharedMemory.Allocate<float>(2 * RowGroup);
        var sums = SharedMemory.Allocate<double>(4 * RowGroup);
        int r = Grid.IdxX, th = Group.IdxX, b = r * n;
        if (hasMask != 0 && mask[r] == 0) // the whole group leaves: no barrier is left waiting
        {
            if (th == 0) rowKl[r] = 0;
            if (withGrad != 0) for (int j = th; j < n; j += RowGroup) s[b + j] = 0;
            return;
        }
        var (kl, invS, invT, ms, mt, _) = GroupTemperedKl(mx, sums, s, t, b, n, invTau, 0);
        if (th == 0) rowKl[r] = kl;
        if (withGrad == 0) return;
        float scale = tau / XMath.Max(1f, count[0]);
        for (int j = th; j < n; j += RowGroup) // each thread overwrites only the elements it read
            s[b + j] = scale * (XMath.Exp((s[b + j] - ms) * invTau) * invS - XMath.Exp((t[b + j] - mt) * invTau) * invT);
    }

    /// <summary>Row Grid.IdxX of <see cref="LinearCeKlRows"/>.</summary>
    public static void LinearCeKlRowsGrouped(ArrayView<float> s, ArrayView<float> t, ArrayView<long> targets, ArrayView<float> count,
        ArrayView<float> ceRow, ArrayView<float> klRow, int n, long ignoreIndex, float invTau, float tau, float ceScale, float logitsWeight, int withGrad)
    {
        var mx = SharedMemory.Allocate<float>(2 * RowGroup);
        var sums = SharedMemory.Allocate<double>(4 * RowGroup);
        int r = Grid.IdxX, th = Group.IdxX, b = r * n;
        long tg = targets[r];
        if (tg == ignoreIndex)
        {
            if (th == 0) { ceRow[r] = 0; klRow[r] = 0; }
            if (withGrad != 0) for (int j = th; j < n; j += RowGroup) s[b + j] = 0;
            return;
        }
        float target = s[b + (int)tg]; // read before the barriers: the gradient pass overwrites it
        var (kl, invS, invT, ms, mt, se) = GroupTemperedKl(mx, sums, s, t, b, n, invTau, 1);
        float lse = ms + XMath.Log(se);
        if (th == 0) { ceRow[r] = lse - target; klRow[r] = kl; }
        if (withGrad == 0) return;
        float klScale = logitsWeight * tau / XMath.Max(1f, count[0]);
        for (int j = th; j < n; j += RowGroup)
        {
            float v = s[b + j];
            float ce = ceScale * (XMath.Exp(v - lse) - (j == tg ? 1f : 0f));
            s[b + j] = ce + klScale * (XMath.Exp((v - ms) * invTau) * invS - XMath.Exp((t[b + j] - mt) * invTau) * invT);
        }
    }

    /// <summary>Query row Grid.IdxX of <see cref="RelationRows"/>, the keys split over the group (scores recomputed in each
    /// pass, as there).</summary>
    public static void RelationRowsGrouped(ArrayView<float> a, ArrayView<float> at, ArrayView<float> mask, ArrayView<float> rowKl,
        ArrayView<float> g, RelationDims d)
    {
        var mx = SharedMemory.Allocate<float>(2 * RowGroup);
        var sums = SharedMemory.Allocate<double>(3 * RowGroup);
        int p = Grid.IdxX, th = Group.IdxX;
        int i = p % d.T, blk = p / d.T, b = blk / d.Heads;
        int so = blk * d.T * d.StudentDim, to = blk * d.T * d.TeacherDim, go = p * d.T;
        if (d.Padded(mask, b, i))
        {
            if (th == 0) rowKl[p] = 0;
            if (d.WithGrad != 0) for (int j = th; j < d.T; j += RowGroup) g[go + j] = 0;
            return;
        }
        float ms = float.NegativeInfinity, mt = float.NegativeInfinity;
        for (int j = th; j < d.T; j += RowGroup)
        {
            if (d.Padded(mask, b, j)) continue;
            ms = XMath.Max(ms, RelationScore(a, so, i, j, d.StudentDim, d.StudentScale));
            mt = XMath.Max(mt, RelationScore(at, to, i, j, d.TeacherDim, d.TeacherScale));
        }
        mx[th] = ms; mx[RowGroup + th] = mt;
        Group.Barrier();
        for (int h = RowGroup / 2; h > 0; h >>= 1) // XMath.Max as the per-row kernel
        {
            if (th < h) { mx[th] = XMath.Max(mx[th], mx[th + h]); mx[RowGroup + th] = XMath.Max(mx[RowGroup + th], mx[RowGroup + th + h]); }
            Group.Barrier();
        }
        ms = mx[0]; mt = mx[RowGroup];
        double sumS = 0, sumT = 0, cross = 0;
        for (int j = th; j < d.T; j += RowGroup)
        {
            if (d.Padded(mask, b, j)) continue;
            float ss = RelationScore(a, so, i, j, d.StudentDim, d.StudentScale), st = RelationScore(at, to, i, j, d.TeacherDim, d.TeacherScale);
            float et = XMath.Exp(st - mt);
            sumS += XMath.Exp(ss - ms); sumT += et; cross += (double)et * (st - ss);
        }
        sums[th] = sumS; sums[RowGroup + th] = sumT; sums[2 * RowGroup + th] = cross;
        TreeSum(sums, 3);
        sumS = sums[0]; sumT = sums[RowGroup]; cross = sums[2 * RowGroup];
        if (th == 0) rowKl[p] = (float)(cross / sumT - mt - XMath.Log(sumT) + ms + XMath.Log(sumS));
        if (d.WithGrad == 0) return;
        float invS = (float)(1 / sumS), invT = (float)(1 / sumT);
        for (int j = th; j < d.T; j += RowGroup)
            g[go + j] = d.Padded(mask, b, j) ? 0f
                : XMath.Exp(RelationScore(a, so, i, j, d.StudentDim, d.StudentScale) - ms) * invS
                  - XMath.Exp(RelationScore(at, to, i, j, d.TeacherDim, d.TeacherScale) - mt) * invT;
    }
}
