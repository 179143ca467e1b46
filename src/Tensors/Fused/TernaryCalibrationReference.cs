using BitDistill.Kernels;

namespace BitDistill.Tensors;

/// <summary>Host-side GPTQ and AWQ solves on running statistics (the defaults of <see cref="IBackend.SolveTernaryGptq"/> and
/// <see cref="IBackend.SolveTernaryAwq"/>): one explicit copy of the weight and the statistics to the host, the solvers of
/// <see cref="TernaryCalibration"/> in double precision, and the solution copied back to the weight's device. A solve runs
/// once every few hundred optimizer steps, so the transfers do not matter next to the steps between them.</summary>
internal static class TernaryCalibrationReference
{
    public static TernaryGptqSolution Gptq(Tensor weight, Tensor gram, GptqOptions options)
    {
        var (w, n, k) = Matrix(weight);
        var r = TernaryCalibration.GptqFromGram(w, n, k, Doubles(gram, [k, k], nameof(gram)), options);
        var d = new float[w.Length];
        for (int i = 0; i < d.Length; i++) d[i] = r.CompensatedWeights[i] - w[i];
        using (TensorScope.Suspend())
            return new TernaryGptqSolution(Tensor.FromArray(d, [n, k], weight.Device), RowVector(r.Weights.Scales, n, weight.Device),
                RowVector(r.RoundingScales, n, weight.Device));
    }

    public static Tensor Awq(Tensor weight, Tensor gram, Tensor absMean, AwqOptions options)
    {
        var (w, n, k) = Matrix(weight);
        var r = TernaryCalibration.AwqFromStatistics(w, n, k, Doubles(gram, [k, k], nameof(gram)), Doubles(absMean, [k], nameof(absMean)), options);
        using (TensorScope.Suspend()) return Tensor.FromArray((float[])r.Weights.InputScales!.Clone(), [k], weight.Device);
    }

    private static (float[] W, int N, int K) Matrix(Tensor weight)
    {
        if (weight.Rank != 2) throw new ArgumentException($"the weight must be a matrix [n, k], got {Tensor.ShapeString(weight.Shape)}", nameof(weight));
        return (weight.Contiguous().ToFloatArray(), weight.Size(0), weight.Size(1));
    }

    private static double[] Doubles(Tensor t, int[] shape, string name)
    {
        if (!t.ShapeArray.SequenceEqual(shape)) throw new ArgumentException($"{name} must be {Tensor.ShapeString(shape)}, got {Tensor.ShapeString(t.Shape)}", name);
        return Array.ConvertAll(t.Contiguous().ToFloatArray(), v => (double)v);
    }

    // A per-tensor solution (one scale) is broadcast to every row, so the layer's per-row path applies it unchanged.
    private static Tensor RowVector(float[] scales, int n, Device device) =>
        Tensor.FromArray(scales.Length == 1 ? Enumerable.Repeat(scales[0], n).ToArray() : (float[])scales.Clone(), [n], device);
}
