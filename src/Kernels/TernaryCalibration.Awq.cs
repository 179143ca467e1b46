namespace BitDistill.Kernels;

// AWQ-style ternary calibration (Lin et al. 2023): activation-aware input scales searched on a grid. Shared helpers: TernaryCalibration.cs.
public static partial class TernaryCalibration
{
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
        return AwqCore(w, n, k, Gram(x, m, k), absMean, options);
    }

    /// <summary>AWQ as <see cref="Awq"/>, from activation statistics instead of the activations: <paramref name="gram"/> (k×k,
    /// e.g. XᵀX/m or a running average of it; any positive factor gives the same α, codes and scales) scores each α, and
    /// <paramref name="absMean"/> (k values mean|x_c| ≥ 0) sets the input scales. Quantisation-aware training keeps both as
    /// running averages. Awq(W, X) and AwqFromStatistics(W, XᵀX/m, mean|X|) agree up to rounding.</summary>
    public static AwqResult AwqFromStatistics(ReadOnlySpan<float> w, int n, int k, ReadOnlySpan<double> gram, ReadOnlySpan<double> absMean, AwqOptions? options = null)
    {
        options ??= new AwqOptions();
        CheckMatrix(w, n, k, nameof(w), "n", "k");
        CheckGram(gram, k);
        if (absMean.Length != k) throw new ArgumentException($"absMean has {absMean.Length} elements; expected k = {k}.", nameof(absMean));
        for (int c = 0; c < k; c++)
            if (!(absMean[c] >= 0) || !double.IsFinite(absMean[c]))
                throw new ArgumentException($"absMean[{c}] is {absMean[c]}; expected a finite mean |x| ≥ 0.", nameof(absMean));
        if (options.GridPoints < 1) throw new ArgumentException($"GridPoints must be ≥ 1 (got {options.GridPoints}).", nameof(options));
        return AwqCore(w, n, k, gram.ToArray(), absMean.ToArray(), options);
    }

    private static AwqResult AwqCore(ReadOnlySpan<float> w, int n, int k, double[] gram, double[] absMean, AwqOptions options)
    {
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
            var q = TernaryQuantizer.Absmean(scaled, n, k, options.PerRowScale);
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

    /// <summary>AWQ's input scales for one α: s_c = max(a_c^α, 1e-4) / sqrt(max s · min s) (a device solve computes them
    /// on the host with this, so its scales are the host solver's bit for bit).</summary>
    public static float[] AwqInputScales(double[] absMean, double alpha)
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
}
