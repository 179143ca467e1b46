using BitDistill.Kernels;
using BitDistill.Tensors;
using ILGPU.Runtime;

namespace BitDistill.Backends.Ilgpu;

// The solves of quantisation-aware training on the device. AWQ: the weight and the Gram matrix stay there; the host reads mean
// |x| (k values, for the input scales of each α) and, at the end, the grid's errors with the input checks, and keeps the best
// α. GPTQ: the host reads the Gram matrix (k² values) to factor H⁻¹ as the host solver does; the weight stays on the device,
// where one thread per row runs the error feedback, and the host reads the input checks at the end.
public sealed partial class IlgpuBackend
{
    public Tensor SolveTernaryAwq(Tensor weight, Tensor gram, Tensor absMean, AwqOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (weight.Rank != 2) throw new ArgumentException($"the weight must be a matrix [n, k], got {Tensor.ShapeString(weight.Shape)}", nameof(weight));
        int n = weight.Size(0), k = weight.Size(1), points = options.GridPoints;
        CheckStatistic(gram, [k, k], nameof(gram));
        CheckStatistic(absMean, [k], nameof(absMean));
        if (k < 1) throw new ArgumentException($"gram has 0 elements; expected k·k = {k}·{k}.", nameof(gram));
        if (points < 1) throw new ArgumentException($"GridPoints must be ≥ 1 (got {points}).", nameof(options));
        // the input scales by the host solver's own formula, so they are its scales bit for bit
        var am = Array.ConvertAll(Dense(absMean).ToArray<float>(), v => (double)v);
        for (int c = 0; c < k; c++)
            if (!(am[c] >= 0) || !double.IsFinite(am[c])) throw new ArgumentException($"absMean[{c}] is {am[c]}; expected a finite mean |x| ≥ 0.", nameof(absMean));
        var inputScales = new float[points][];
        bool perRow = options.PerRowScale;
        var results = _accelerator.Allocate1D<double>(points + 6); // the grid's errors, then the input checks
        var stats = _accelerator.Allocate1D<double>(Math.Max(1, 3 * n));
        var host = new double[points + 6];
        try
        {
            using (TensorScope.Begin())
            {
                var (w, g) = (Dense(weight), Dense(gram));
                _k.CalibrationChecks(Vc(w), n * k, Vc(g), k, results.View.SubView(points, 6));
                var codes = New([n, k], DType.Int8); var dequantized = New([n, k]); var scales = New([perRow ? n : 1]);
                for (int gi = 0; gi < points; gi++)
                {
                    double alpha = points == 1 ? 0 : (double)gi / (points - 1);
                    var s = inputScales[gi] = TernaryCalibration.AwqInputScales(am, alpha);
                    var sd = Tensor.FromArray(s, [k], Device);
                    if (n > 0)
                    {
                        // W' = W·diag(s), absmean-ternarised as TernarizeWeights does; then each row's score terms against the original W
                        var scaled = (w * sd).Contiguous();
                        AbsmeanCodes(scaled, n, k, perRow, codes, dequantized, scales);
                        _k.AwqRowStats(n, Vc(w), Vc(g), Vb(codes), Vc(sd), stats.View, k);
                    }
                    _k.AwqGridError(stats.View, Vc(scales), n, perRow ? 1 : 0, options.RefitScale ? 1 : 0, TernaryCalibration.MinScale, results.View, gi);
                }
                _accelerator.Synchronize();
                Interlocked.Increment(ref _hostReads);
                results.View.CopyToCPU(host);
            }
        }
        finally
        {
            _accelerator.Synchronize();
            stats.Dispose(); results.Dispose();
        }
        if (host[points] >= 0)
        {
            int i = (int)host[points];
            throw new ArgumentException($"w has a non-finite value ({(float)host[points + 1]}) at row {i / k}, column {i % k}.", nameof(weight));
        }
        if (host[points + 2] >= 0)
        {
            int i = (int)host[points + 2];
            throw new ArgumentException($"gram has a non-finite value ({host[points + 3]}) at row {i / k}, column {i % k}.", nameof(gram));
        }
        if (host[points + 4] >= 0)
            throw new ArgumentException($"gram has a negative diagonal entry ({host[points + 5]}) at {(int)host[points + 4]}; expected XᵀX.", nameof(gram));
        // the smallest error wins, ties to the smaller α (as the host solver)
        int best = 0;
        for (int gi = 1; gi < points; gi++) if (host[gi] < host[best]) best = gi;
        using (TensorScope.Suspend()) return Tensor.FromArray((float[])inputScales[best].Clone(), [k], Device);
    }

    private static void CheckStatistic(Tensor t, int[] shape, string name)
    {
        if (!t.ShapeArray.SequenceEqual(shape)) throw new ArgumentException($"{name} must be {Tensor.ShapeString(shape)}, got {Tensor.ShapeString(t.Shape)}", name);
    }

    // absmean codes and scales of w [n, k] (per row or per tensor) into the given tensors, on TernarizeWeights' kernels
    private void AbsmeanCodes(Tensor w, int n, int k, bool perRow, Tensor codes, Tensor dequantized, Tensor scales)
    {
        AbsmeanScales(w, n, k, perRow, scales);
        _k.TernarizeElements(n * k, Vc(w), Vc(scales), Vc(scales), Vb(codes), V(dequantized), k, perRow ? 0 : 1);
    }

    private void AbsmeanScales(Tensor w, int n, int k, bool perRow, Tensor scales)
    {
        lock (_rowSumsLock)
        {
            var sums = RowSums(n);
            _k.RowAbsSums(n, Vc(w), sums, k);
            _k.AbsMeanScales(perRow ? n : 1, sums, Vc(scales), k, n, perRow ? 0 : 1);
            if (_accelerator.AcceleratorType == AcceleratorType.CPU) _accelerator.Synchronize(); // as TernarizeWeights: the emulator may run other threads' launches beside these
        }
    }

    public TernaryGptqSolution SolveTernaryGptq(Tensor weight, Tensor gram, GptqOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (weight.Rank != 2) throw new ArgumentException($"the weight must be a matrix [n, k], got {Tensor.ShapeString(weight.Shape)}", nameof(weight));
        int n = weight.Size(0), k = weight.Size(1);
        CheckStatistic(gram, [k, k], nameof(gram));
        bool perRow = options.PerRowScale;
        var host = new double[6];
        TernaryGptqSolution solution;
        // the solve's own tensors (argument copies, scales, codes, the plan) go back to the pool when it ends; the solution
        // is made outside that scope, and the raw scratch buffers are disposed once the device is done with them
        using (TensorScope.Begin())
        {
            var g = Dense(gram);
            // the plan (dead inputs, damping, column order, U = chol(H⁻¹)) is the host solver's own, from the one read of G
            var gd = Array.ConvertAll(g.ToArray<float>(), v => (double)v);
            var (perm, dead, u) = TernaryCalibration.GptqFactor(gd, k, 2.0, options);
            var checks = _accelerator.Allocate1D<double>(6);
            var uBuffer = _accelerator.Allocate1D<double>(u.Length);
            // the error-fed rows stay double, as the host solver's: the codes and feedback are its own bit for bit
            var work = _accelerator.Allocate1D<double>(Math.Max(1, n * k));
            var stats = _accelerator.Allocate1D<double>(Math.Max(1, 3 * n));
            try
            {
                uBuffer.View.CopyFromCPU(u);
                var w = Dense(weight);
                _k.CalibrationChecks(Vc(w), n * k, Dummy, 0, checks.View);
                using (TensorScope.Suspend()) solution = new TernaryGptqSolution(New([n, k]), New([n]), New([n]));
                if (n > 0)
                {
                    var scales = New([perRow ? n : 1]);
                    AbsmeanScales(w, n, k, perRow, scales);
                    var codes = New([n, k], DType.Int8);
                    var permT = Tensor.FromArray(perm, [k], Device);
                    var deadT = Tensor.FromArray(Array.ConvertAll(dead, d => d ? 1 : 0), [k], Device);
                    _k.GptqRows(n, Vc(w), S(permT).View<int>(), S(deadT).View<int>(), uBuffer.View, Vc(scales), work.View, Vb(codes), V(solution.Feedback), k, perRow ? 1 : 0);
                    if (options.RefitScale)
                        _k.AwqRowStats(n, Vc(w), Vc(g), Vb(codes), Vc(Tensor.Ones(k).To(Device)), stats.View, k); // least squares on the codes themselves
                    _k.GptqScales(stats.View, Vc(scales), V(solution.Scales), V(solution.RoundingScales), n, perRow ? 1 : 0, options.RefitScale ? 1 : 0, TernaryCalibration.MinScale);
                }
                _accelerator.Synchronize();
                Interlocked.Increment(ref _hostReads);
                checks.View.CopyToCPU(host);
            }
            finally
            {
                _accelerator.Synchronize();
                checks.Dispose(); uBuffer.Dispose(); work.Dispose(); stats.Dispose();
            }
        }
        if (host[0] >= 0)
        {
            int i = (int)host[0];
            throw new ArgumentException($"w has a non-finite value ({(float)host[1]}) at row {i / k}, column {i % k}.", nameof(weight));
        }
        return solution;
    }
}
