namespace BitDistill.Kernels;

/// <summary>Post-training ternary quantisers that use calibration activations: GPTQ-style error feedback and AWQ-style
/// activation-aware input scaling, next to the plain absmean quantiser of the paper they improve on.
/// Weights W are [n, k] row-major (n outputs, k inputs); activations X are [m, k] row-major (rows are tokens).</summary>
public static partial class TernaryCalibration
{
    /// <summary>Smallest absmean scale (as in BitLinear).</summary>
    public const float MinScale = TernaryQuantizer.Epsilon;

    /// <summary>AWQ's lower clamp on a_c^α before normalisation.</summary>
    public const double MinInputScale = 1e-4;

    // ---------------------------------------------------------------- shared by GPTQ and AWQ

    /// <summary>Per row, a_r = q_rᵀ·G·w_r and b_r = q_rᵀ·G·q_r, with q the codes divided column-wise by the input scales when
    /// given. One pass over G per row (v = G·q from the rows of G where q ≠ 0), rows in parallel, each row in a fixed order.</summary>
    private static (double[] a, double[] b) CodeStats(double[] gram, float[] w, sbyte[] codes, float[]? inputScales, int n, int k)
    {
        var a = new double[n];
        var b = new double[n];
        StaticParallel.For(n, (long)k * k, (r0, r1) =>
        {
            var v = new double[k];
            var q = new double[k];
            var wr = new double[k];
            for (int r = r0; r < r1; r++)
            {
                Array.Clear(v);
                for (int c = 0; c < k; c++)
                {
                    wr[c] = w[r * k + c];
                    q[c] = inputScales is null ? codes[r * k + c] : codes[r * k + c] / (double)inputScales[c];
                    if (q[c] != 0) DoubleCholesky.Axpy(q[c], gram.AsSpan(c * k, k), v); // G symmetric: G·q = Σ_c q_c·G[c, :]
                }
                a[r] = DoubleCholesky.Dot(v, wr);
                b[r] = DoubleCholesky.Dot(v, q);
            }
        });
        return (a, b);
    }

    /// <summary>Least-squares scales for fixed codes: per row s_r = a_r / b_r, per tensor Σ_r a_r / Σ_r b_r (see <see cref="CodeStats"/>).
    /// Where a or b is not positive (all-zero codes, or codes anti-correlated with w) the current scale is kept.</summary>
    private static float[] RefitScales(double[] a, double[] b, float[] current)
    {
        var s = (float[])current.Clone();
        if (s.Length == 1)
        {
            double sa = 0, sb = 0;
            for (int r = 0; r < a.Length; r++) { sa += a[r]; sb += b[r]; }
            if (sa > 0 && sb > 0) s[0] = (float)Math.Max(sa / sb, MinScale);
        }
        else
        {
            for (int r = 0; r < a.Length; r++)
                if (a[r] > 0 && b[r] > 0) s[r] = (float)Math.Max(a[r] / b[r], MinScale);
        }
        return s;
    }

    // ---------------------------------------------------------------- errors

    /// <summary>Relative output error ‖X·Wᵀ − X·Ŵᵀ‖_F / ‖X·Wᵀ‖_F over the rows of X, in double (0 when both are zero,
    /// +∞ when only the reference output is zero).</summary>
    public static double OutputError(ReadOnlySpan<float> x, int m, ReadOnlySpan<float> w, ReadOnlySpan<float> wHat, int n, int k)
    {
        CheckMatrix(x, m, k, nameof(x), "m", "k");
        CheckMatrix(w, n, k, nameof(w), "n", "k");
        CheckMatrix(wHat, n, k, nameof(wHat), "n", "k");
        var xd = new double[k];
        var d = new double[(long)n * k];
        var wd = new double[(long)n * k];
        for (int i = 0; i < wd.Length; i++) { wd[i] = w[i]; d[i] = (double)w[i] - wHat[i]; }
        double num = 0, den = 0;
        for (int t = 0; t < m; t++)
        {
            for (int c = 0; c < k; c++) xd[c] = x[t * k + c];
            for (int r = 0; r < n; r++)
            {
                double y = DoubleCholesky.Dot(xd, wd.AsSpan(r * k, k));
                double e = DoubleCholesky.Dot(xd, d.AsSpan(r * k, k));
                num += e * e;
                den += y * y;
            }
        }
        return RelativeFromSquares(num, den);
    }

    private static double RelativeFromSquares(double num, double den) =>
        den > 0 ? Math.Sqrt(num / den) : num > 0 ? double.PositiveInfinity : 0;

    /// <summary>Relative output error on the rows whose Gram matrix is G: sqrt(Σ_r dᵀGd / Σ_r wᵀGw), d = w − ŵ.</summary>
    private static double GramRelativeError(double[] gram, float[] w, float[] wHat, int n, int k) =>
        RelativeFromSquares(RowQuadraticForms(gram, w, wHat, n, k).Sum(), RowQuadraticForms(gram, w, null, n, k).Sum());

    /// <summary>d_rᵀ·G·d_r for every row r, with d = w − ŵ (or d = w when ŵ is null). Per-row values (summed by the caller in
    /// row order) keep the result independent of the number of threads.</summary>
    private static double[] RowQuadraticForms(double[] gram, float[] w, float[]? wHat, int n, int k)
    {
        var perRow = new double[n];
        StaticParallel.For(n, (long)k * k, (r0, r1) =>
        {
            var d = new double[k];
            for (int r = r0; r < r1; r++)
            {
                for (int c = 0; c < k; c++) d[c] = wHat is null ? w[r * k + c] : (double)w[r * k + c] - wHat[r * k + c];
                double acc = 0;
                for (int i = 0; i < k; i++)
                    if (d[i] != 0) acc += d[i] * DoubleCholesky.Dot(gram.AsSpan(i * k, k), d);
                perRow[r] = acc;
            }
        });
        return perRow;
    }

    /// <summary>G = XᵀX (k×k, full symmetric) in double. Threads own bands of rows of G and each entry accumulates over
    /// tokens in order, so the result does not depend on the number of threads.</summary>
    internal static double[] Gram(ReadOnlySpan<float> x, int m, int k)
    {
        var g = new double[(long)k * k];
        var xa = x.ToArray();
        StaticParallel.For(k, (long)m * k / 2, (i0, i1) =>
        {
            var xr = new double[k];
            for (int t = 0; t < m; t++)
            {
                for (int c = i0; c < k; c++) xr[c] = xa[t * k + c];
                for (int i = i0; i < i1; i++)
                    if (xr[i] != 0) DoubleCholesky.Axpy(xr[i], xr.AsSpan(i, k - i), g.AsSpan(i * k + i, k - i));
            }
        });
        for (int i = 0; i < k; i++)
            for (int j = 0; j < i; j++) g[i * k + j] = g[j * k + i];
        return g;
    }

    private static void CheckGram(ReadOnlySpan<double> gram, int k)
    {
        if (k < 1 || gram.Length != (long)k * k)
            throw new ArgumentException($"gram has {gram.Length} elements; expected k·k = {k}·{k}.", nameof(gram));
        for (int i = 0; i < gram.Length; i++)
            if (!double.IsFinite(gram[i]))
                throw new ArgumentException($"gram has a non-finite value ({gram[i]}) at row {i / k}, column {i % k}.", nameof(gram));
        for (int i = 0; i < k; i++)
            if (gram[i * k + i] < 0) throw new ArgumentException($"gram has a negative diagonal entry ({gram[i * k + i]}) at {i}; expected XᵀX.", nameof(gram));
    }

    private static void CheckMatrix(ReadOnlySpan<float> a, int rows, int cols, string name, string rowsName, string colsName)
    {
        if (rows < 0 || cols < 0 || a.Length != (long)rows * cols)
            throw new ArgumentException($"{name} has {a.Length} elements; expected {rowsName}·{colsName} = {rows}·{cols}.", name);
        for (int i = 0; i < a.Length; i++)
            if (!float.IsFinite(a[i]))
                throw new ArgumentException($"{name} has a non-finite value ({a[i]}) at row {i / cols}, column {i % cols}.", name);
    }
}
