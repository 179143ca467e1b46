namespace BitDistill.Kernels;

// GPTQ-style ternary calibration (Frantar et al. 2022): error feedback column by column. Shared helpers: TernaryCalibration.cs.
public static partial class TernaryCalibration
{
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
        CheckGptqOptions(options);
        return GptqCore(w, n, k, Gram(x, m, k), 2.0 / m, options);
    }

    /// <summary>GPTQ as <see cref="Gptq"/>, from a precomputed Gram matrix instead of the activations: <paramref name="gram"/> is
    /// k×k row-major, symmetric positive semi-definite, e.g. XᵀX/m or a running average of it (quantisation-aware training keeps
    /// one). Codes, scales and the relative error do not depend on a positive factor of G (H = 2·G; damping is relative to
    /// mean diag H; dead inputs are decoupled), so Gptq(W, X) and GptqFromGram(W, XᵀX/m) agree up to rounding.</summary>
    public static GptqResult GptqFromGram(ReadOnlySpan<float> w, int n, int k, ReadOnlySpan<double> gram, GptqOptions? options = null)
    {
        options ??= new GptqOptions();
        CheckMatrix(w, n, k, nameof(w), "n", "k");
        CheckGram(gram, k);
        CheckGptqOptions(options);
        return GptqCore(w, n, k, gram.ToArray(), 2.0, options);
    }

    private static void CheckGptqOptions(GptqOptions options)
    {
        if (!(options.Damping >= 0) || !double.IsFinite(options.Damping))
            throw new ArgumentException($"Damping must be a finite number ≥ 0 (got {options.Damping}).", nameof(options));
        if (options.BlockSize < 1) throw new ArgumentException($"BlockSize must be ≥ 1 (got {options.BlockSize}).", nameof(options));
    }

    private static GptqResult GptqCore(ReadOnlySpan<float> w, int n, int k, double[] gram, double f, GptqOptions options)
    {
        var scales = TernaryQuantizer.AbsmeanScales(w, n, k, options.PerRowScale);

        var (perm, dead, u) = GptqFactor(gram, k, f, options);

        // Working copy of W in double, columns permuted, dead columns zeroed.
        var work = new double[(long)n * k];
        for (int r = 0; r < n; r++)
            for (int j = 0; j < k; j++)
            {
                int c = perm[j];
                work[r * k + j] = dead[c] ? 0 : w[r * k + c];
            }

        var codesPerm = new sbyte[(long)n * k];
        var roundedFrom = new float[(long)n * k]; // the error-fed value each code was rounded from (permuted columns)
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
                    float inv = 1f / (float)s;
                    for (int i = i1; i < i2; i++)
                    {
                        roundedFrom[r * k + i] = (float)row[i];
                        sbyte q = TernaryQuantizer.Ternarize(roundedFrom[r * k + i], inv);
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
        var compensated = new float[(long)n * k];
        for (int r = 0; r < n; r++)
            for (int j = 0; j < k; j++)
            {
                codes[r * k + perm[j]] = codesPerm[r * k + j];
                compensated[r * k + perm[j]] = roundedFrom[r * k + j];
            }
        var roundingScales = (float[])scales.Clone();

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
        return new GptqResult(result, GramRelativeError(gram, w.ToArray(), deq, n, k)) { CompensatedWeights = compensated, RoundingScales = roundingScales };
    }

    /// <summary>GPTQ's column plan from the Gram matrix (k×k row-major, finite, diagonal ≥ 0) times <paramref name="f"/>: H = f·G with
    /// dead inputs (H_ii = 0) set to 1 and flagged, damping λ·mean(diag H)·I, the column order (natural, or by decreasing diag H
    /// with <see cref="GptqOptions.ActOrder"/>) and U, the upper Cholesky factor of the permuted H⁻¹. A device solve takes it
    /// from here, so its error feedback runs on the host solver's factor.</summary>
    public static (int[] Perm, bool[] Dead, double[] U) GptqFactor(double[] gram, int k, double f, GptqOptions options)
    {
        CheckGram(gram, k);
        CheckGptqOptions(options);
        // H = 2·G/m with GPTQ's dead-input rule, then damping.
        var h = new double[(long)k * k];
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
        return (perm, dead, DoubleCholesky.UpperFactorOfInverse(h, k));
    }
}
