namespace BitDistill.Kernels;

/// <summary>Post-training ternary quantisers that use calibration activations: GPTQ-style error feedback and AWQ-style
/// activation-aware input scaling, next to the plain absmean quantiser of the paper they improve on.
/// Weights W are [n, k] row-major (n outputs, k inputs); activations X are [m, k] row-major (rows are tokens).</summary>
public static class TernaryCalibration
{
    /// <summary>Smallest absmean scale (as in BitLinear).</summary>
    public const float MinScale = 1e-5f;

    /// <summary>AWQ's lower clamp on a_c^α before normalisation.</summary>
    public const double MinInputScale = 1e-4;

    // ---------------------------------------------------------------- absmean (the paper's quantiser)

    /// <summary>max(mean|w|, 1e-5), the mean taken in double.</summary>
    public static float AbsmeanScale(ReadOnlySpan<float> w)
    {
        double sum = 0;
        foreach (float v in w) sum += Math.Abs(v);
        double mean = w.Length == 0 ? 0 : sum / w.Length;
        return (float)Math.Max(mean, MinScale);
    }

    /// <summary>clamp(round_half_to_even(w / s), −1, 1) with the division in float, as BitLinear does it.</summary>
    public static sbyte Ternarize(float w, float scale) => (sbyte)Math.Clamp(MathF.Round(w / scale), -1f, 1f);

    /// <summary>Plain absmean ternarisation (round to nearest), per tensor (the paper's) or per output row.</summary>
    public static TernaryQuantization Absmean(ReadOnlySpan<float> w, int n, int k, bool perRowScale = false)
    {
        CheckMatrix(w, n, k, nameof(w), "n", "k");
        var scales = AbsmeanScales(w, n, k, perRowScale);
        var codes = new sbyte[w.Length];
        var deq = new float[w.Length];
        for (int r = 0; r < n; r++)
        {
            float s = scales.Length == 1 ? scales[0] : scales[r];
            for (int c = 0; c < k; c++)
            {
                int i = r * k + c;
                codes[i] = Ternarize(w[i], s);
                deq[i] = codes[i] * s;
            }
        }
        return new TernaryQuantization(n, k, codes, scales, null, deq);
    }

    private static float[] AbsmeanScales(ReadOnlySpan<float> w, int n, int k, bool perRow)
    {
        if (!perRow) return [AbsmeanScale(w)];
        var s = new float[n];
        for (int r = 0; r < n; r++) s[r] = AbsmeanScale(w.Slice(r * k, k));
        return s;
    }

    // ---------------------------------------------------------------- GPTQ

    /// <summary>GPTQ (Frantar et al. 2022) with a ternary grid. H = 2·XᵀX/m; dead inputs (H_ii = 0) get H_ii = 1 and a zero
    /// weight column; H += λ·mean(diag H)·I; U = upper Cholesky factor of H⁻¹. Scales are the absmean of the original W
    /// (per row by default) and stay fixed while columns are quantised in order: q_i = ternarise(w_i),
    /// e = (w_i − q_i·s)/U_ii, w_{i+1:} −= e·U[i, i+1:], in lazy blocks of <see cref="GptqOptions.BlockSize"/> columns;
    /// then, with <see cref="GptqOptions.RefitScale"/> (default), each scale becomes the least-squares one for its codes.
    /// Rows are independent given U, so they run in parallel and the result does not depend on threads or block size.</summary>
    public static GptqResult Gptq(ReadOnlySpan<float> w, int n, int k, ReadOnlySpan<float> x, int m, GptqOptions? options = null)
    {
        options ??= new GptqOptions();
        CheckMatrix(w, n, k, nameof(w), "n", "k");
        CheckMatrix(x, m, k, nameof(x), "m", "k");
        if (m < 1) throw new ArgumentException("GPTQ needs at least one calibration row.", nameof(m));
        if (!(options.Damping >= 0) || !double.IsFinite(options.Damping))
            throw new ArgumentException($"Damping must be a finite number ≥ 0 (got {options.Damping}).", nameof(options));
        if (options.BlockSize < 1) throw new ArgumentException($"BlockSize must be ≥ 1 (got {options.BlockSize}).", nameof(options));

        var gram = Gram(x, m, k);
        var scales = AbsmeanScales(w, n, k, options.PerRowScale);

        // H = 2·G/m with GPTQ's dead-input rule, then damping.
        var h = new double[(long)k * k];
        double f = 2.0 / m;
        for (int i = 0; i < h.Length; i++) h[i] = f * gram[i];
        var dead = new bool[k];
        double diagSum = 0;
        for (int i = 0; i < k; i++)
        {
            if (h[i * k + i] == 0) { dead[i] = true; h[i * k + i] = 1; }
            diagSum += h[i * k + i];
        }
        double damp = options.Damping * diagSum / Math.Max(1, k);
        for (int i = 0; i < k; i++) h[i * k + i] += damp;

        // Column order: natural, or by decreasing diag H (stable, so ties keep their order).
        var perm = new int[k];
        for (int i = 0; i < k; i++) perm[i] = i;
        if (options.ActOrder)
        {
            var diag = new double[k];
            for (int i = 0; i < k; i++) diag[i] = h[i * k + i];
            perm = [.. perm.OrderByDescending(i => diag[i])];
            var hp = new double[h.Length];
            for (int i = 0; i < k; i++)
                for (int j = 0; j < k; j++) hp[i * k + j] = h[perm[i] * k + perm[j]];
            h = hp;
        }
        var u = DoubleCholesky.UpperFactorOfInverse(h, k);

        // Working copy of W in double, columns permuted, dead columns zeroed.
        var work = new double[(long)n * k];
        for (int r = 0; r < n; r++)
            for (int j = 0; j < k; j++)
            {
                int c = perm[j];
                work[r * k + j] = dead[c] ? 0 : w[r * k + c];
            }

        var codesPerm = new sbyte[(long)n * k];
        int block = Math.Min(options.BlockSize, Math.Max(1, k));
        StaticParallel.For(n, (long)k * k, (r0, r1) =>
        {
            var err = new double[block];
            // Block-outer, row-inner, so the trailing slab U[i1:i2, i2:] stays in cache across rows.
            for (int i1 = 0; i1 < k; i1 += block)
            {
                int i2 = Math.Min(i1 + block, k);
                for (int r = r0; r < r1; r++)
                {
                    var row = work.AsSpan(r * k, k);
                    double s = scales.Length == 1 ? scales[0] : scales[r];
                    for (int i = i1; i < i2; i++)
                    {
                        sbyte q = Ternarize((float)row[i], (float)s);
                        codesPerm[r * k + i] = q;
                        double e = (row[i] - q * s) / u[i * k + i];
                        err[i - i1] = e;
                        // Within the block: update only the remaining columns of this block now.
                        DoubleCholesky.Axpy(-e, u.AsSpan(i * k + i + 1, i2 - i - 1), row[(i + 1)..i2]);
                    }
                    // Lazy batch update of the columns after the block, applied in the same column order i as unblocked GPTQ.
                    if (i2 < k)
                        for (int i = i1; i < i2; i++)
                            DoubleCholesky.Axpy(-err[i - i1], u.AsSpan(i * k + i2, k - i2), row[i2..]);
                }
            }
        });

        var codes = new sbyte[(long)n * k];
        for (int r = 0; r < n; r++)
            for (int j = 0; j < k; j++) codes[r * k + perm[j]] = codesPerm[r * k + j];

        if (options.RefitScale)
        {
            var (num, den) = CodeStats(gram, w.ToArray(), codes, null, n, k);
            scales = RefitScales(num, den, scales);
        }

        var deq = new float[(long)n * k];
        for (int r = 0; r < n; r++)
        {
            float s = scales.Length == 1 ? scales[0] : scales[r];
            for (int c = 0; c < k; c++) deq[r * k + c] = codes[r * k + c] * s;
        }
        var result = new TernaryQuantization(n, k, codes, scales, null, deq);
        return new GptqResult(result, GramRelativeError(gram, w.ToArray(), deq, n, k));
    }

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

    // ---------------------------------------------------------------- AWQ

    /// <summary>AWQ (Lin et al. 2023) with a ternary grid. a_c = mean_m |X[m, c]|; for each α on the grid, s_c = max(a_c^α, 1e-4)
    /// divided by sqrt(max s · min s); W' = W·diag(s) is absmean-ternarised and the effective weight Ŵ = Ŵ'·diag(1/s) is scored by
    /// ‖X·Ŵᵀ − X·Wᵀ‖²_F on the calibration rows (with <see cref="AwqOptions.RefitScale"/> the weight scales are first
    /// least-squares fitted to the codes); the best α wins (ties go to the smaller α). α = 0 is absmean (plain absmean when
    /// RefitScale is off), so the calibration error is never worse than absmean's. Apply as y = (x / s)·(codes·scale)ᵀ, or fold 1/s into the preceding norm.</summary>
    public static AwqResult Awq(ReadOnlySpan<float> w, int n, int k, ReadOnlySpan<float> x, int m, AwqOptions? options = null)
    {
        options ??= new AwqOptions();
        CheckMatrix(w, n, k, nameof(w), "n", "k");
        CheckMatrix(x, m, k, nameof(x), "m", "k");
        if (m < 1) throw new ArgumentException("AWQ needs at least one calibration row.", nameof(m));
        if (options.GridPoints < 1) throw new ArgumentException($"GridPoints must be ≥ 1 (got {options.GridPoints}).", nameof(options));

        var absMean = new double[k];
        for (int t = 0; t < m; t++)
        {
            var xr = x.Slice(t * k, k);
            for (int c = 0; c < k; c++) absMean[c] += Math.Abs(xr[c]);
        }
        for (int c = 0; c < k; c++) absMean[c] /= m;

        var gram = Gram(x, m, k);
        var wArr = w.ToArray();
        var wGw = RowQuadraticForms(gram, wArr, null, n, k);
        double reference = wGw.Sum();
        var gridErrors = new double[options.GridPoints];
        (sbyte[] codes, float[] scales, float[] inputScales)? best = null;
        double bestErr = double.PositiveInfinity, bestAlpha = 0;
        for (int g = 0; g < options.GridPoints; g++)
        {
            double alpha = options.GridPoints == 1 ? 0 : (double)g / (options.GridPoints - 1);
            var s = AwqInputScales(absMean, alpha);
            var scaled = new float[(long)n * k];
            for (int r = 0; r < n; r++)
                for (int c = 0; c < k; c++) scaled[r * k + c] = wArr[r * k + c] * s[c];
            var q = Absmean(scaled, n, k, options.PerRowScale);
            // Score in closed form from one pass over G per row: ‖X(w − t·q/s)‖² = wᵀGw − 2t·a + t²·b.
            var (ca, cb) = CodeStats(gram, wArr, q.Codes, s, n, k);
            var scales = options.RefitScale ? RefitScales(ca, cb, q.Scales) : q.Scales;
            double err = 0;
            for (int r = 0; r < n; r++)
            {
                double t = scales.Length == 1 ? scales[0] : scales[r];
                err += wGw[r] - 2 * t * ca[r] + t * t * cb[r];
            }
            err = Math.Max(err, 0);
            gridErrors[g] = RelativeFromSquares(err, reference);
            if (best is null || err < bestErr) { bestErr = err; best = (q.Codes, scales, s); bestAlpha = alpha; }
        }

        var (bc, bs, bi) = best!.Value;
        var deq = new float[(long)n * k];
        for (int r = 0; r < n; r++)
        {
            float t = bs.Length == 1 ? bs[0] : bs[r];
            for (int c = 0; c < k; c++) deq[r * k + c] = bc[r * k + c] * t / bi[c];
        }
        var weights = new TernaryQuantization(n, k, bc, bs, bi, deq);
        return new AwqResult(weights, bestAlpha, GramRelativeError(gram, wArr, deq, n, k), gridErrors);
    }

    /// <summary>AWQ's input scales for one α: s_c = max(a_c^α, 1e-4) / sqrt(max s · min s).</summary>
    private static float[] AwqInputScales(double[] absMean, double alpha)
    {
        int k = absMean.Length;
        var sd = new double[k];
        double max = 0, min = double.PositiveInfinity;
        for (int c = 0; c < k; c++)
        {
            sd[c] = Math.Max(Math.Pow(absMean[c], alpha), MinInputScale);
            max = Math.Max(max, sd[c]);
            min = Math.Min(min, sd[c]);
        }
        double norm = Math.Sqrt(max * min);
        var s = new float[k];
        for (int c = 0; c < k; c++) s[c] = (float)(sd[c] / norm);
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

    private static void CheckMatrix(ReadOnlySpan<float> a, int rows, int cols, string name, string rowsName, string colsName)
    {
        if (rows < 0 || cols < 0 || a.Length != (long)rows * cols)
            throw new ArgumentException($"{name} has {a.Length} elements; expected {rowsName}·{colsName} = {rows}·{cols}.", name);
        for (int i = 0; i < a.Length; i++)
            if (!float.IsFinite(a[i]))
                throw new ArgumentException($"{name} has a non-finite value ({a[i]}) at row {i / cols}, column {i % cols}.", name);
    }
}
