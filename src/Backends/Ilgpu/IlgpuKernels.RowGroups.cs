using ILGPU;
using ILGPU.Algorithms;

namespace BitDistill.Backends.Ilgpu;

// The GPUs' forms of the row kernels: one group of RowGroup threads per row (grid = rows), each thread striding over the
// row, partial results combined by a shared-memory tree; the kept-row counts and the loss mean with one group striding
// over the rows. Same results as the one-thread-per-row kernels up to the order of float sums. The CPU emulator keeps the
// per-row kernels by default (IlgpuBackend.GroupRowKernels): there each group barrier switches RowGroup OS threads.
internal static partial class IlgpuKernels
{
    /// <summary>The threads of one row's group (a power of two: the reductions halve it).</summary>
    public const int RowGroup = 128;

    // max as the per-row kernels take it: NaN if either is NaN, else the larger
    private static float MaxNaN(float a, float b) => float.IsNaN(a) || float.IsNaN(b) ? float.NaN : (b > a ? b : a);

    // sh[l·RowGroup] = the NaN-propagating max of sh[l·RowGroup + 0..RowGroup) for each lane l < lanes. Every thread of the
    // group calls it after writing its lanes; the caller reads sh[l·RowGroup] after it (and barriers before reusing sh).
    private static void TreeMax(ArrayView<float> sh, int lanes)
    {
        int t = Group.IdxX;
        Group.Barrier();
        for (int s = RowGroup / 2; s > 0; s >>= 1)
        {
            if (t < s) for (int l = 0; l < lanes; l++) sh[l * RowGroup + t] = MaxNaN(sh[l * RowGroup + t], sh[l * RowGroup + t + s]);
            Group.Barrier();
        }
    }

    // the sums of <see cref="TreeMax"/>'s layout, in float
    private static void TreeSum(ArrayView<float> sh, int lanes)
    {
        int t = Group.IdxX;
        Group.Barrier();
        for (int s = RowGroup / 2; s > 0; s >>= 1)
        {
            if (t < s) for (int l = 0; l < lanes; l++) sh[l * RowGroup + t] += sh[l * RowGroup + t + s];
            Group.Barrier();
        }
    }

    // the sums of <see cref="TreeMax"/>'s layout, in double
    private static void TreeSum(ArrayView<double> sh, int lanes)
    {
        int t = Group.IdxX;
        Group.Barrier();
        for (int s = RowGroup / 2; s > 0; s >>= 1)
        {
            if (t < s) for (int l = 0; l < lanes; l++) sh[l * RowGroup + t] += sh[l * RowGroup + t + s];
            Group.Barrier();
        }
    }

    /// <summary>Row Grid.IdxX of x [rows, n] reduced as <see cref="ReduceRows"/> does (Min as −max(−x): negation is exact).</summary>
    public static void ReduceRowsGrouped(ArrayView<float> x, ArrayView<float> y, int n, int op)
    {
        var sh = SharedMemory.Allocate<float>(RowGroup);
        int r = Grid.IdxX, t = Group.IdxX, b = r * n;
        if (op <= 1)
        {
            float s = 0;
            for (int j = t; j < n; j += RowGroup) s += x[b + j];
            sh[t] = s;
            TreeSum(sh, 1);
            if (t == 0) y[r] = op == 1 ? sh[0] / n : sh[0];
            return;
        }
        float sign = op == 2 ? 1f : -1f, m = sign * x[b]; // a thread past the row's end holds its first element
        for (int j = t; j < n; j += RowGroup) m = MaxNaN(m, sign * x[b + j]);
        sh[t] = m;
        TreeMax(sh, 1);
        if (t == 0) y[r] = sign * sh[0];
    }

    // whether (v, j) wins over (bv, bj) in <see cref="ArgRows"/>' order: the first NaN, else the first of the largest
    private static bool ArgBeats(float v, int j, float bv, int bj) =>
        float.IsNaN(bv) ? float.IsNaN(v) && j < bj : float.IsNaN(v) || v > bv || (v == bv && j < bj);

    /// <summary>Row Grid.IdxX's <see cref="ArgRows"/> (argmin as the argmax of −x) by a tree over (value, index) pairs.</summary>
    public static void ArgRowsGrouped(ArrayView<float> x, ArrayView<long> y, int n, int max)
    {
        var sv = SharedMemory.Allocate<float>(RowGroup);
        var si = SharedMemory.Allocate<int>(RowGroup);
        int r = Grid.IdxX, t = Group.IdxX, b = r * n, best = 0;
        float sign = max != 0 ? 1f : -1f, bv = sign * x[b];
        for (int j = t; j < n; j += RowGroup)
        {
            float v = sign * x[b + j];
            if (ArgBeats(v, j, bv, best)) { bv = v; best = j; }
        }
        sv[t] = bv; si[t] = best;
        Group.Barrier();
        for (int s = RowGroup / 2; s > 0; s >>= 1)
        {
            if (t < s && ArgBeats(sv[t + s], si[t + s], sv[t], si[t])) { sv[t] = sv[t + s]; si[t] = si[t + s]; }
            Group.Barrier();
        }
        if (t == 0) y[r] = si[0];
    }

    // Online (max, Σ e^(x − max)) that ends where RowMax and then Σ e^(x − max) of the per-row kernels end: NaN anywhere
    // gives NaN; −∞ adds e^(−∞ − max) = 0 (a row of only −∞, whose per-row sum is e^(−∞ + ∞) = NaN, is fixed at the end);
    // a +∞ maximum makes the sum NaN (its own term is e^(∞ − ∞)).
    private static (float M, float S) OnlineAdd(float m, float s, float x)
    {
        if (float.IsNaN(x) || float.IsNaN(m)) return (float.NaN, float.NaN);
        if (x == float.NegativeInfinity) return (m, s);
        if (x > m) return (x, s * XMath.Exp(m - x) + (x == float.PositiveInfinity ? float.NaN : 1f));
        return (m, s + XMath.Exp(x - m));
    }

    private static (float M, float S) OnlineMerge(float m1, float s1, float m2, float s2)
    {
        if (float.IsNaN(m1) || float.IsNaN(m2)) return (float.NaN, float.NaN);
        float m = m2 > m1 ? m2 : m1;
        if (m == float.NegativeInfinity) return (m, 0f);
        return (m, (m1 == float.NegativeInfinity ? 0f : s1 * XMath.Exp(m1 - m)) + (m2 == float.NegativeInfinity ? 0f : s2 * XMath.Exp(m2 - m)));
    }

    // the group's (max, Σ e^(x − max)) of row x[b..b+n) in one pass over it; every thread gets it
    private static (float M, float S) GroupMaxSumExp(ArrayView<float> shm, ArrayView<float> shs, ArrayView<float> x, int b, int n)
    {
        int t = Group.IdxX;
        float m = float.NegativeInfinity, s = 0;
        for (int j = t; j < n; j += RowGroup) (m, s) = OnlineAdd(m, s, x[b + j]);
        shm[t] = m; shs[t] = s;
        Group.Barrier();
        for (int h = RowGroup / 2; h > 0; h >>= 1)
        {
            if (t < h) (shm[t], shs[t]) = OnlineMerge(shm[t], shs[t], shm[t + h], shs[t + h]);
            Group.Barrier();
        }
        m = shm[0]; s = shs[0];
        return (m, m == float.NegativeInfinity && n > 0 ? float.NaN : s);
    }

    /// <summary>Row Grid.IdxX's <see cref="SoftmaxRows"/>, its maximum and sum of exponentials found in one pass (online).</summary>
    public static void SoftmaxRowsGrouped(ArrayView<float> x, ArrayView<float> y, int n, int log)
    {
        var shm = SharedMemory.Allocate<float>(RowGroup);
        var shs = SharedMemory.Allocate<float>(RowGroup);
        int b = Grid.IdxX * n;
        var (m, s) = GroupMaxSumExp(shm, shs, x, b, n);
        if (log != 0) { float ls = XMath.Log(s); for (int j = Group.IdxX; j < n; j += RowGroup) y[b + j] = x[b + j] - m - ls; }
        else { float inv = 1f / s; for (int j = Group.IdxX; j < n; j += RowGroup) y[b + j] = XMath.Exp(x[b + j] - m) * inv; }
    }

    /// <summary>Row Grid.IdxX's <see cref="LogSumExpRows"/> in one pass over the row.</summary>
    public static void LogSumExpRowsGrouped(ArrayView<float> x, ArrayView<float> y, int n)
    {
        var shm = SharedMemory.Allocate<float>(RowGroup);
        var shs = SharedMemory.Allocate<float>(RowGroup);
        int r = Grid.IdxX;
        var (m, s) = GroupMaxSumExp(shm, shs, x, r * n, n);
        if (Group.IdxX == 0) y[r] = m == float.NegativeInfinity ? m : m + XMath.Log(s); // all −∞: −∞, as LogSumExpRows
    }

    /// <summary>Row Grid.IdxX's <see cref="RmsNormRows"/>.</summary>
    public static void RmsNormRowsGrouped(ArrayView<float> x, ArrayView<float> w, ArrayView<float> y, int n, float eps, int hasWeight)
    {
        var sh = SharedMemory.Allocate<float>(RowGroup);
        int t = Group.IdxX, b = Grid.IdxX * n;
        float ss = 0;
        for (int j = t; j < n; j += RowGroup) ss += x[b + j] * x[b + j];
        sh[t] = ss;
        TreeSum(sh, 1);
        float rr = 1f / XMath.Sqrt(sh[0] / n + eps);
        for (int j = t; j < n; j += RowGroup) y[b + j] = hasWeight != 0 ? x[b + j] * rr * w[j] : x[b + j] * rr;
    }

    /// <summary>Row Grid.IdxX's <see cref="RmsNormBackwardRows"/> (Σ g·w·x·rstd as rstd·Σ g·w·x, both sums in one tree).</summary>
    public static void RmsNormBackwardRowsGrouped(ArrayView<float> x, ArrayView<float> w, ArrayView<float> g, ArrayView<float> dx, ArrayView<float> rstd,
        int n, float eps, int hasWeight)
    {
        var sh = SharedMemory.Allocate<float>(2 * RowGroup);
        int r = Grid.IdxX, t = Group.IdxX, b = r * n;
        float ss = 0, gwx = 0;
        for (int j = t; j < n; j += RowGroup)
        {
            float v = x[b + j];
            ss += v * v;
            gwx += g[b + j] * (hasWeight != 0 ? w[j] : 1f) * v;
        }
        sh[t] = ss; sh[RowGroup + t] = gwx;
        TreeSum(sh, 2);
        float rr = 1f / XMath.Sqrt(sh[0] / n + eps), dot = sh[RowGroup] * rr;
        for (int j = t; j < n; j += RowGroup)
        {
            float gw = g[b + j] * (hasWeight != 0 ? w[j] : 1f);
            dx[b + j] = rr * (gw - x[b + j] * rr * dot / n);
        }
        if (t == 0) rstd[r] = rr;
    }

    /// <summary>Row Grid.IdxX of <see cref="GptqRows"/>: column by column, thread 0 rounds the column and shares its error e,
    /// then the group updates the later columns w_{i+1:} −= e·U[i, i+1:] (each element the same double operations in the
    /// same column order as there, so the feedback is the same bit for bit).</summary>
    public static void GptqRowsGrouped(ArrayView<float> w, ArrayView<int> perm, ArrayView<int> dead, ArrayView<double> u, ArrayView<float> scales,
        ArrayView<double> work, ArrayView<sbyte> codes, ArrayView<float> feedback, int k, int perRow)
    {
        var err = SharedMemory.Allocate<double>(1);
        int r = Grid.IdxX, t = Group.IdxX, o = r * k;
        for (int j = t; j < k; j += RowGroup)
        {
            int c = perm[j];
            work[o + j] = dead[c] != 0 ? 0 : w[o + c];
        }
        double s = perRow != 0 ? scales[r] : scales[0];
        float inv = 1f / (float)s;
        Group.Barrier();
        for (int i = 0; i < k; i++)
        {
            if (t == 0) err[0] = GptqRoundColumn(w, perm, u, work, codes, feedback, o, i, k, s, inv);
            Group.Barrier();
            double e = err[0];
            for (int j = i + 1 + t; j < k; j += RowGroup) work[o + j] += -e * u[i * k + j];
            Group.Barrier(); // column i + 1 is final, and err is free again
        }
    }

    /// <summary><see cref="CrossEntropyBackwardRows"/> with one thread per element of the gradient [rows, n] (no reduction).</summary>
    public static void CrossEntropyBackwardElements(Index1D i, ArrayView<float> logits, ArrayView<float> lse, ArrayView<long> targets, ArrayView<float> y,
        int n, long ignoreIndex, float scale)
    {
        int r = i / n, j = i - r * n;
        long t = targets[r];
        y[i] = t == ignoreIndex ? 0f : scale * (XMath.Exp(logits[i] - lse[r]) - (j == t ? 1f : 0f));
    }
}
