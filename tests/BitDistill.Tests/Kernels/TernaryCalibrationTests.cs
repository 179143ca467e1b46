using BitDistill.Kernels;
using MathNet.Numerics.LinearAlgebra;
using Xunit.Abstractions;

namespace BitDistill.Tests.Kernels;

/// <summary>The double-precision Cholesky routines match MathNet; GPTQ and AWQ ternary quantisers beat plain absmean on held-out activations.</summary>
public class TernaryCalibrationTests(ITestOutputHelper output)
{
    private static readonly int[] OddSizes = [1, 3, 17, 33, 65];

    private static float[] Normal(int count, ulong seed, float std = 1f)
    {
        var a = new float[count];
        Philox.Normal(a, seed, 0, 0f, std);
        return a;
    }

    /// <summary>A random SPD matrix BᵀB/n + 0.1·I (row-major, double).</summary>
    private static double[] RandomSpd(int n, ulong seed)
    {
        var b = Normal(n * n, seed);
        var a = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int t = 0; t < n; t++) s += (double)b[t * n + i] * b[t * n + j];
                a[i * n + j] = s / n + (i == j ? 0.1 : 0);
            }
        return a;
    }

    private static Matrix<double> ToMatrix(double[] a, int n) => Matrix<double>.Build.Dense(n, n, (i, j) => a[i * n + j]);

    private static double MaxAbsDiff(double[] a, Matrix<double> b, int n)
    {
        double m = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) m = Math.Max(m, Math.Abs(a[i * n + j] - b[i, j]));
        return m;
    }

    [Fact]
    public void CholeskyfactorinverseandsolvematchMathNetonoddsizes()
    {
        foreach (int n in OddSizes)
        {
            var a = RandomSpd(n, (ulong)(100 + n));
            var reference = ToMatrix(a, n);
            var l = (double[])a.Clone();
            DoubleCholesky.Factor(l, n);
            double scale = reference.L1Norm();
            Assert.True(MaxAbsDiff(l, reference.Cholesky().Factor, n) < 1e-12 * Math.Max(1, scale), $"factor n={n}");

            var inv = new double[n * n];
            DoubleCholesky.InverseFromFactor(l, inv, n);
            var refInv = reference.Inverse();
            Assert.True(MaxAbsDiff(inv, refInv, n) < 1e-10 * refInv.L1Norm(), $"inverse n={n}");

            var li = new double[n * n];
            DoubleCholesky.InvertLower(l, li, n);
            Assert.True(MaxAbsDiff(li, ToMatrix(l, n).Inverse(), n) < 1e-10 * ToMatrix(li, n).L1Norm(), $"lower inverse n={n}");

            var bf = Normal(n, (ulong)(200 + n));
            var b = bf.Select(v => (double)v).ToArray();
            var expected = reference.Solve(Vector<double>.Build.DenseOfArray(b));
            DoubleCholesky.Solve(l, b, n);
            for (int i = 0; i < n; i++) Assert.Equal(expected[i], b[i], 1e-10 * expected.L1Norm());

            // GPTQ's factor: U upper with a positive diagonal and UᵀU = A⁻¹.
            var u = DoubleCholesky.UpperFactorOfInverse(a, n);
            var um = ToMatrix(u, n);
            for (int i = 0; i < n; i++)
            {
                Assert.True(um[i, i] > 0);
                for (int j = 0; j < i; j++) Assert.Equal(0.0, um[i, j]);
            }
            Assert.True(MaxAbsDiff((um.Transpose() * um).ToRowMajorArray(), refInv, n) < 1e-10 * refInv.L1Norm(), $"U n={n}");
        }
    }

    [Fact]
    public void Choleskyrejectsamatrixthatisnotpositivedefinite()
    {
        double[] a = [1, 2, 2, 1];
        var ex = Assert.Throws<InvalidOperationException>(() => DoubleCholesky.Factor(a, 2));
        Assert.Contains("not positive definite", ex.Message);
    }

    [Fact]
    public void Gptqonidentitycalibrationdataisplainabsmeanandzeroesdeadinputs()
    {
        const int n = 24, k = 37;
        var w = Normal(n * k, 1, 0.05f);
        // X = 3·I: H is diagonal, so U is diagonal and no error is fed forward: GPTQ must equal round-to-nearest exactly.
        var x = new float[k * k];
        for (int i = 0; i < k; i++) x[i * k + i] = 3f;
        var gptq = TernaryCalibration.Gptq(w, n, k, x, k, new GptqOptions { RefitScale = false });
        var rtn = TernaryQuantizer.Absmean(w, n, k, perRowScale: true);
        Assert.Equal(rtn.Codes, TernaryCalibration.Gptq(w, n, k, x, k).Weights.Codes); // the refit changes scales, never codes
        Assert.Equal(rtn.Codes, gptq.Weights.Codes);
        Assert.Equal(rtn.Scales, gptq.Weights.Scales);
        Assert.Equal(rtn.Dequantized, gptq.Weights.Dequantized);
        Assert.Equal(TernaryCalibration.OutputError(x, k, w, rtn.Dequantized, n, k), gptq.CalibrationError, 1e-9);

        // A dead input (column of zeros in X) gets a zero weight column, the rest is still round-to-nearest.
        const int deadCol = 5;
        x[deadCol * k + deadCol] = 0;
        var withDead = TernaryCalibration.Gptq(w, n, k, x, k);
        for (int r = 0; r < n; r++)
            for (int c = 0; c < k; c++)
                Assert.Equal(c == deadCol ? (sbyte)0 : rtn.Codes[r * k + c], withDead.Weights.Codes[r * k + c]);
    }

    // ------------------------------------------------------------ realistic layer

    private const int K = 96, N = 64, Factors = 8, CalibRows = 512, HeldOutRows = 512;
    private static readonly int[] OutlierChannels = [7, 41, 77];

    /// <summary>Per-channel σ_c (log-normal, with a few ×25 outlier channels) and a K×Factors mixing matrix: LLM activations
    /// are strongly correlated across channels (a few shared directions), which is what GPTQ's error feedback exploits
    /// (with independent channels H is diagonal and GPTQ reduces to round-to-nearest).</summary>
    private static (float[] sigma, float[] mix) ActivationModel()
    {
        var z = Normal(K, 11);
        var sigma = z.Select(v => MathF.Exp(v)).ToArray();
        foreach (int c in OutlierChannels) sigma[c] *= 25f;
        return (sigma, Normal(K * Factors, 12));
    }

    /// <summary>m rows x = σ ∘ (z + mix·u), z ~ N(0, I_K), u ~ N(0, I_Factors); seed picks an independent sample.</summary>
    private static float[] Activations(int m, ulong seed, (float[] sigma, float[] mix) model)
    {
        var z = Normal(m * K, seed);
        var u = Normal(m * Factors, seed + 1_000);
        var x = new float[m * K];
        for (int t = 0; t < m; t++)
            for (int c = 0; c < K; c++)
            {
                double v = z[t * K + c];
                for (int f = 0; f < Factors; f++) v += model.mix[c * Factors + f] * u[t * Factors + f];
                x[t * K + c] = (float)(model.sigma[c] * v);
            }
        return x;
    }

    private static string Row(string name, double heldOut, double calib) => $"  {name,-34} {heldOut:F4}   (calibration {calib:F4})";

    [Fact]
    public void GptqandAwqbeatabsmeanonheldoutactivations()
    {
        var model = ActivationModel();
        var calib = Activations(CalibRows, 21, model);
        var heldOut = Activations(HeldOutRows, 22, model);
        var w = Normal(N * K, 23, 0.02f);

        double Err(float[] wHat) => TernaryCalibration.OutputError(heldOut, HeldOutRows, w, wHat, N, K);
        double Cal(float[] wHat) => TernaryCalibration.OutputError(calib, CalibRows, w, wHat, N, K);
        var absT = TernaryQuantizer.Absmean(w, N, K).Dequantized;
        var absR = TernaryQuantizer.Absmean(w, N, K, perRowScale: true).Dequantized;
        var gptq = TernaryCalibration.Gptq(w, N, K, calib, CalibRows);
        var gptqNoRefit = TernaryCalibration.Gptq(w, N, K, calib, CalibRows, new GptqOptions { RefitScale = false });
        var gptqAct = TernaryCalibration.Gptq(w, N, K, calib, CalibRows, new GptqOptions { ActOrder = true });
        var gptqT = TernaryCalibration.Gptq(w, N, K, calib, CalibRows, new GptqOptions { PerRowScale = false });
        var awq = TernaryCalibration.Awq(w, N, K, calib, CalibRows);
        var awqNoRefit = TernaryCalibration.Awq(w, N, K, calib, CalibRows, new AwqOptions { RefitScale = false });
        var awqT = TernaryCalibration.Awq(w, N, K, calib, CalibRows, new AwqOptions { PerRowScale = false });

        output.WriteLine($"relative output error on {HeldOutRows} held-out rows (K={K}, N={N}, {CalibRows} calibration rows, W iid normal):");
        output.WriteLine(Row("absmean per-tensor", Err(absT), Cal(absT)));
        output.WriteLine(Row("absmean per-row", Err(absR), Cal(absR)));
        output.WriteLine(Row("GPTQ per-row, refit (default)", Err(gptq.Weights.Dequantized), gptq.CalibrationError));
        output.WriteLine(Row("GPTQ per-row, absmean scale", Err(gptqNoRefit.Weights.Dequantized), gptqNoRefit.CalibrationError));
        output.WriteLine(Row("GPTQ per-row, refit, act-order", Err(gptqAct.Weights.Dequantized), gptqAct.CalibrationError));
        output.WriteLine(Row("GPTQ per-tensor, refit", Err(gptqT.Weights.Dequantized), gptqT.CalibrationError));
        output.WriteLine(Row($"AWQ per-row, refit (α={awq.Alpha:F2})", Err(awq.Weights.Dequantized), awq.CalibrationError));
        output.WriteLine(Row($"AWQ per-row, absmean (α={awqNoRefit.Alpha:F2})", Err(awqNoRefit.Weights.Dequantized), awqNoRefit.CalibrationError));
        output.WriteLine(Row($"AWQ per-tensor, refit (α={awqT.Alpha:F2})", Err(awqT.Weights.Dequantized), awqT.CalibrationError));
        output.WriteLine($"  AWQ grid (per-row, refit): {string.Join(" ", awq.GridErrors.Select(e => e.ToString("F3")))}");

        // Clear margins on held-out data: each calibrated quantiser removes at least 20% of absmean's error at the same scale granularity.
        Assert.True(Err(gptq.Weights.Dequantized) < 0.8 * Err(absR));
        Assert.True(Err(gptqNoRefit.Weights.Dequantized) < 0.8 * Err(absR));
        Assert.True(Err(gptqAct.Weights.Dequantized) < 0.8 * Err(absR));
        Assert.True(Err(gptqT.Weights.Dequantized) < 0.8 * Err(absT));
        Assert.True(Err(awq.Weights.Dequantized) < 0.8 * Err(absR));
        Assert.True(Err(awqT.Weights.Dequantized) < 0.95 * Err(absT));
        // Least squares for fixed codes can only lower the calibration error.
        Assert.True(gptq.CalibrationError <= gptqNoRefit.CalibrationError + 1e-12);
    }

    /// <summary>Real layers have input channels whose weight columns differ in magnitude (and outlier-activation channels tend to
    /// have small weights); absmean then zeroes whole small-weight columns even where the activations are large. Here AWQ's
    /// activation-aware input scaling itself (α > 0, not just the scale refit) must pay off on held-out data.</summary>
    [Fact]
    public void Awqinputscalingpaysoffwhenweightcolumnsdifferinmagnitude()
    {
        var model = ActivationModel();
        var calib = Activations(CalibRows, 81, model);
        var heldOut = Activations(HeldOutRows, 82, model);
        var w = Normal(N * K, 83, 0.02f);
        var colNoise = Normal(K, 84, 0.5f);
        for (int c = 0; c < K; c++)
        {
            float omega = MathF.Exp(colNoise[c]) * MathF.Pow(model.sigma[c], -0.75f);
            for (int r = 0; r < N; r++) w[r * K + c] *= omega;
        }
        double Err(float[] wHat) => TernaryCalibration.OutputError(heldOut, HeldOutRows, w, wHat, N, K);
        double absR = Err(TernaryQuantizer.Absmean(w, N, K, perRowScale: true).Dequantized);
        var awq = TernaryCalibration.Awq(w, N, K, calib, CalibRows);
        var awqNoRefit = TernaryCalibration.Awq(w, N, K, calib, CalibRows, new AwqOptions { RefitScale = false });
        var alpha0 = TernaryCalibration.Awq(w, N, K, calib, CalibRows, new AwqOptions { GridPoints = 1 });
        var gptq = TernaryCalibration.Gptq(w, N, K, calib, CalibRows);
        output.WriteLine($"column-structured W, held-out relative output error: absmean per-row {absR:F4}, " +
                         $"α=0 + refit {Err(alpha0.Weights.Dequantized):F4}, AWQ refit (α={awq.Alpha:F2}) {Err(awq.Weights.Dequantized):F4}, " +
                         $"AWQ absmean (α={awqNoRefit.Alpha:F2}) {Err(awqNoRefit.Weights.Dequantized):F4}, GPTQ {Err(gptq.Weights.Dequantized):F4}");
        output.WriteLine($"  AWQ grid (per-row, refit): {string.Join(" ", awq.GridErrors.Select(e => e.ToString("F3")))}");
        Assert.True(awq.Alpha > 0 && awqNoRefit.Alpha > 0);
        Assert.True(Err(awqNoRefit.Weights.Dequantized) < 0.93 * absR);
        Assert.True(Err(awq.Weights.Dequantized) < 0.93 * Err(alpha0.Weights.Dequantized));
    }

    [Fact]
    public void Awqalphazeroisabsmeanandinputscalesarenormalised()
    {
        var model = ActivationModel();
        var calib = Activations(CalibRows, 31, model);
        var w = Normal(N * K, 32, 0.02f);
        var awq = TernaryCalibration.Awq(w, N, K, calib, CalibRows, new AwqOptions { RefitScale = false });
        double absRow = TernaryCalibration.OutputError(calib, CalibRows, w, TernaryQuantizer.Absmean(w, N, K, true).Dequantized, N, K);
        Assert.Equal(21, awq.GridErrors.Length);
        Assert.Equal(absRow, awq.GridErrors[0], 1e-6);
        Assert.Equal(awq.GridErrors.Min(), awq.CalibrationError, 1e-6);
        Assert.Equal(TernaryCalibration.OutputError(calib, CalibRows, w, awq.Weights.Dequantized, N, K), awq.CalibrationError, 1e-9);

        var q = awq.Weights;
        var s = q.InputScales!;
        Assert.Equal(K, s.Length);
        Assert.Equal(1.0, Math.Sqrt((double)s.Max() * s.Min()), 1e-5);
        for (int r = 0; r < N; r++)
            for (int c = 0; c < K; c++)
            {
                Assert.InRange(q.Codes[r * K + c], (sbyte)-1, (sbyte)1);
                Assert.Equal(q.Codes[r * K + c] * q.ScaleOf(r) / s[c], q.Dequantized[r * K + c]);
            }
    }

    [Fact]
    public void Perrowscalesfitrowsofdifferentmagnitudebetterthanonepertensorscale()
    {
        var model = ActivationModel();
        var calib = Activations(CalibRows, 41, model);
        var w = Normal(N * K, 42, 0.02f);
        for (int r = 0; r < N; r++)
            for (int c = 0; c < K; c++) w[r * K + c] *= MathF.Pow(4f, (float)r / N * 2 - 1); // rows span 1/4 … 4
        double Err(float[] wHat) => TernaryCalibration.OutputError(calib, CalibRows, w, wHat, N, K);

        var rowAbs = TernaryQuantizer.Absmean(w, N, K, true);
        var tensorAbs = TernaryQuantizer.Absmean(w, N, K, false);
        var rowGptq = TernaryCalibration.Gptq(w, N, K, calib, CalibRows, new GptqOptions { RefitScale = false });
        var tensorGptq = TernaryCalibration.Gptq(w, N, K, calib, CalibRows, new GptqOptions { PerRowScale = false, RefitScale = false });
        Assert.Equal(N, rowAbs.Scales.Length);
        Assert.True(rowAbs.PerRowScale);
        Assert.Single(tensorAbs.Scales);
        Assert.False(tensorGptq.Weights.PerRowScale);
        Assert.Equal(TernaryQuantizer.AbsMeanScale(w), tensorAbs.Scales[0]);
        for (int r = 0; r < N; r++) Assert.Equal(TernaryQuantizer.AbsMeanScale(w.AsSpan(r * K, K)), rowGptq.Weights.Scales[r]);
        output.WriteLine($"absmean row {Err(rowAbs.Dequantized):F4} tensor {Err(tensorAbs.Dequantized):F4}; " +
                         $"GPTQ row {rowGptq.CalibrationError:F4} tensor {tensorGptq.CalibrationError:F4}");
        Assert.True(Err(rowAbs.Dequantized) < Err(tensorAbs.Dequantized));
        Assert.True(rowGptq.CalibrationError < tensorGptq.CalibrationError);
    }

    [Fact]
    public void Resultsaredeterministicandindependentofthreadsandblocksize()
    {
        var model = ActivationModel();
        var calib = Activations(CalibRows, 51, model);
        var w = Normal(N * K, 52, 0.02f);
        var a = TernaryCalibration.Gptq(w, N, K, calib, CalibRows);
        var b = TernaryCalibration.Gptq(w, N, K, calib, CalibRows);
        Assert.Equal(a.Weights.Codes, b.Weights.Codes);
        Assert.Equal(a.Weights.Dequantized, b.Weights.Dequantized);
        Assert.Equal(a.CalibrationError, b.CalibrationError);
        foreach (int block in new[] { 1, 7, 32, 1000 })
        {
            var c = TernaryCalibration.Gptq(w, N, K, calib, CalibRows, new GptqOptions { BlockSize = block });
            Assert.Equal(a.Weights.Codes, c.Weights.Codes);
            Assert.Equal(a.Weights.Dequantized, c.Weights.Dequantized);
        }
        var awq1 = TernaryCalibration.Awq(w, N, K, calib, CalibRows);
        using (KernelContext.Override(degreeOfParallelism: 1))
        {
            var serial = TernaryCalibration.Gptq(w, N, K, calib, CalibRows);
            Assert.Equal(a.Weights.Codes, serial.Weights.Codes);
            Assert.Equal(a.CalibrationError, serial.CalibrationError);
            var awq2 = TernaryCalibration.Awq(w, N, K, calib, CalibRows);
            Assert.Equal(awq1.Weights.Dequantized, awq2.Weights.Dequantized);
            Assert.Equal(awq1.GridErrors, awq2.GridErrors);
        }
    }

    [Fact]
    public void Nonfiniteweightsoractivationsarerejectednamingtheinput()
    {
        const int n = 4, k = 6, m = 8;
        var w = Normal(n * k, 61);
        var x = Normal(m * k, 62);
        var badW = (float[])w.Clone();
        badW[9] = float.NaN;
        var badX = (float[])x.Clone();
        badX[13] = float.PositiveInfinity;

        Assert.Equal("w", Assert.Throws<ArgumentException>(() => TernaryCalibration.Gptq(badW, n, k, x, m)).ParamName);
        Assert.Equal("x", Assert.Throws<ArgumentException>(() => TernaryCalibration.Gptq(w, n, k, badX, m)).ParamName);
        Assert.Equal("w", Assert.Throws<ArgumentException>(() => TernaryCalibration.Awq(badW, n, k, x, m)).ParamName);
        Assert.Equal("x", Assert.Throws<ArgumentException>(() => TernaryCalibration.Awq(w, n, k, badX, m)).ParamName);
        Assert.Equal("w", Assert.Throws<ArgumentException>(() => TernaryQuantizer.Absmean(badW, n, k)).ParamName);
        Assert.Equal("x", Assert.Throws<ArgumentException>(() => TernaryCalibration.OutputError(badX, m, w, w, n, k)).ParamName);
        var ex = Assert.Throws<ArgumentException>(() => TernaryCalibration.Gptq(badW, n, k, x, m));
        Assert.Contains("row 1, column 3", ex.Message);
        Assert.Equal("w", Assert.Throws<ArgumentException>(() => TernaryCalibration.Gptq(w, n, k + 1, x, m)).ParamName);
    }

    [Fact]
    public void OutputErrormatchesadirectcomputation()
    {
        const int n = 5, k = 7, m = 9;
        var w = Normal(n * k, 71);
        var wHat = Normal(n * k, 72);
        var x = Normal(m * k, 73);
        double num = 0, den = 0;
        for (int t = 0; t < m; t++)
            for (int r = 0; r < n; r++)
            {
                double y = 0, yh = 0;
                for (int c = 0; c < k; c++) { y += (double)x[t * k + c] * w[r * k + c]; yh += (double)x[t * k + c] * wHat[r * k + c]; }
                num += (y - yh) * (y - yh);
                den += y * y;
            }
        Assert.Equal(Math.Sqrt(num / den), TernaryCalibration.OutputError(x, m, w, wHat, n, k), 1e-12);
        Assert.Equal(0.0, TernaryCalibration.OutputError(x, m, w, w, n, k));
    }
}
