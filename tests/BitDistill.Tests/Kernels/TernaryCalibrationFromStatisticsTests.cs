using BitDistill.Kernels;
using MathNet.Numerics.LinearAlgebra;

namespace BitDistill.Tests.Kernels;

/// <summary>The statistics entry points that quantisation-aware training uses: GPTQ from a Gram matrix and AWQ from a Gram
/// matrix and mean |x| agree with the activation entry points, and GPTQ's error feedback matches an unblocked scalar reference.</summary>
public class TernaryCalibrationFromStatisticsTests
{
    private static readonly (int N, int K, int M)[] OddSizes = [(1, 1, 1), (3, 5, 7), (17, 13, 29), (33, 31, 65), (7, 65, 41)];

    private static float[] Normal(int count, ulong seed, float std = 1f)
    {
        var a = new float[count];
        Philox.Normal(a, seed, 0, 0f, std);
        return a;
    }

    // X with columns of different magnitudes (as activations after a norm have) and one dead column when k > 2
    private static float[] Activations(int m, int k, ulong seed)
    {
        var x = Normal(m * k, seed);
        for (int t = 0; t < m; t++)
            for (int c = 0; c < k; c++) x[t * k + c] *= k > 2 && c == 1 ? 0f : 0.2f + c % 5;
        return x;
    }

    // XᵀX / m in double, naive loops
    private static double[] GramOf(float[] x, int m, int k)
    {
        var g = new double[k * k];
        for (int t = 0; t < m; t++)
            for (int i = 0; i < k; i++)
                for (int j = 0; j < k; j++) g[i * k + j] += (double)x[t * k + i] * x[t * k + j] / m;
        return g;
    }

    [Fact]
    public void GptqFromAGramMatrixMatchesGptqOnTheActivationsOnOddSizes()
    {
        foreach (var (n, k, m) in OddSizes)
        {
            var w = Normal(n * k, (ulong)(10 + n + k), 0.05f);
            var x = Activations(m, k, (ulong)(20 + m));
            foreach (bool refit in new[] { true, false })
            {
                var options = new GptqOptions { RefitScale = refit, BlockSize = 4 };
                var direct = TernaryCalibration.Gptq(w, n, k, x, m, options);
                var fromGram = TernaryCalibration.GptqFromGram(w, n, k, GramOf(x, m, k), options);
                Assert.Equal(direct.Weights.Codes, fromGram.Weights.Codes);
                for (int r = 0; r < n; r++) Assert.Equal(direct.Weights.Scales[r], fromGram.Weights.Scales[r], 1e-5 * direct.Weights.Scales[r]);
                Assert.Equal(direct.CalibrationError, fromGram.CalibrationError, 1e-6);
                // the compensated weights rounded with the rounding scales are the codes
                var codes = new sbyte[n * k];
                TernaryQuantizer.QuantizeWithRowScales(fromGram.CompensatedWeights, n, k, fromGram.RoundingScales, codes);
                Assert.Equal(fromGram.Weights.Codes, codes);
                if (!refit) Assert.Equal(fromGram.RoundingScales, fromGram.Weights.Scales);
            }
        }
    }

    [Fact]
    public void GptqErrorFeedbackMatchesAnUnblockedScalarReference()
    {
        foreach (var (n, k, m) in OddSizes)
        {
            var w = Normal(n * k, (ulong)(30 + n + k), 0.05f);
            var x = Activations(m, k, (ulong)(40 + m));
            var gram = GramOf(x, m, k);
            var r = TernaryCalibration.GptqFromGram(w, n, k, gram, new GptqOptions { RefitScale = false });

            // reference: H = 2G (dead inputs: H_ii = 1, weight 0) + 1% of mean diag; U = chol(H⁻¹)ᵀ by MathNet; columns in order
            var h = Matrix<double>.Build.Dense(k, k, (i, j) => 2 * gram[i * k + j]);
            var dead = Enumerable.Range(0, k).Select(i => h[i, i] == 0).ToArray();
            for (int i = 0; i < k; i++) if (dead[i]) h[i, i] = 1;
            double damp = 0.01 * Enumerable.Range(0, k).Sum(i => h[i, i]) / k;
            for (int i = 0; i < k; i++) h[i, i] += damp;
            var u = h.Inverse().Cholesky().Factor.Transpose();
            var scales = TernaryQuantizer.AbsmeanScales(w, n, k, perRow: true);
            for (int row = 0; row < n; row++)
            {
                var work = Enumerable.Range(0, k).Select(c => dead[c] ? 0.0 : w[row * k + c]).ToArray();
                for (int i = 0; i < k; i++)
                {
                    Assert.Equal(work[i], r.CompensatedWeights[row * k + i], 1e-5);
                    sbyte q = TernaryQuantizer.Ternarize((float)work[i], 1f / scales[row]);
                    Assert.Equal(q, r.Weights.Codes[row * k + i]);
                    double e = (work[i] - q * scales[row]) / u[i, i];
                    for (int j = i + 1; j < k; j++) work[j] -= e * u[i, j];
                }
            }
        }
    }

    [Fact]
    public void AwqFromStatisticsMatchesAwqOnTheActivationsOnOddSizes()
    {
        foreach (var (n, k, m) in OddSizes)
        {
            var w = Normal(n * k, (ulong)(50 + n + k), 0.05f);
            var x = Activations(m, k, (ulong)(60 + m));
            var absMean = new double[k];
            for (int t = 0; t < m; t++) for (int c = 0; c < k; c++) absMean[c] += Math.Abs(x[t * k + c]) / m;
            foreach (bool refit in new[] { true, false })
            {
                var options = new AwqOptions { RefitScale = refit, GridPoints = 11 };
                var direct = TernaryCalibration.Awq(w, n, k, x, m, options);
                var fromStats = TernaryCalibration.AwqFromStatistics(w, n, k, GramOf(x, m, k), absMean, options);
                Assert.Equal(direct.Alpha, fromStats.Alpha);
                Assert.Equal(direct.Weights.Codes, fromStats.Weights.Codes);
                for (int c = 0; c < k; c++) Assert.Equal(direct.Weights.InputScales![c], fromStats.Weights.InputScales![c], 1e-5 * direct.Weights.InputScales[c]);
                for (int g = 0; g < options.GridPoints; g++) Assert.Equal(direct.GridErrors[g], fromStats.GridErrors[g], 1e-6);
            }
        }
    }

    [Fact]
    public void BadStatisticsAreRejectedNamingTheInput()
    {
        var w = Normal(6, 1);
        var e = Assert.Throws<ArgumentException>(() => TernaryCalibration.GptqFromGram(w, 2, 3, new double[8]));
        Assert.Contains("gram", e.Message);
        var gram = new double[9]; gram[4] = double.NaN;
        Assert.Contains("gram", Assert.Throws<ArgumentException>(() => TernaryCalibration.GptqFromGram(w, 2, 3, gram)).Message);
        gram[4] = -1;
        Assert.Contains("negative", Assert.Throws<ArgumentException>(() => TernaryCalibration.GptqFromGram(w, 2, 3, gram)).Message);
        Assert.Contains("absMean", Assert.Throws<ArgumentException>(() => TernaryCalibration.AwqFromStatistics(w, 2, 3, new double[9], new double[2])).Message);
        Assert.Contains("absMean", Assert.Throws<ArgumentException>(() => TernaryCalibration.AwqFromStatistics(w, 2, 3, new double[9], [1, -1, 0])).Message);
    }
}
