using System.Diagnostics;
using BitDistill.Kernels;

namespace BitDistill.Bench;

/// <summary>`model-gemm`: one-thread SGEMM GFLOP/s for the linear-layer products of qwen-train (forward x·Wᵀ, dX = G·W, dW = Gᵀ·X).</summary>
internal static class ModelGemmBench
{
    public static int Run(string[] args)
    {
        using var _ = KernelContext.Override(degreeOfParallelism: 1);
        const int rows = 2048;
        foreach (var (inF, outF) in new[] { (256, 8192), (256, 768), (768, 256), (256, 256), (256, 128) })
        {
            var x = new float[rows * inF]; var w = new float[outF * inF]; var g = new float[rows * outF];
            var y = new float[rows * outF]; var dx = new float[rows * inF]; var dw = new float[outF * inF];
            var r = new Random(1);
            foreach (var arr in new[] { x, w, g }) for (int i = 0; i < arr.Length; i++) arr[i] = (float)r.NextDouble() - 0.5f;
            double flops = 2.0 * rows * inF * outF;
            double T(Action a) { a(); double best = 1e9; for (int i = 0; i < 5; i++) { var sw = Stopwatch.StartNew(); a(); best = Math.Min(best, sw.Elapsed.TotalSeconds); } return flops / best / 1e9; }
            double f = T(() => Sgemm.Multiply(false, true, rows, outF, inF, 1f, x, inF, w, inF, 0f, y, outF));
            double d = T(() => Sgemm.Multiply(false, false, rows, inF, outF, 1f, g, outF, w, inF, 0f, dx, inF));
            double ww = T(() => Sgemm.Multiply(true, false, outF, inF, rows, 1f, g, outF, x, inF, 0f, dw, inF));
            Console.WriteLine($"in {inF,4} out {outF,5}: fwd x·Wᵀ {f,6:F1}  dX=G·W {d,6:F1}  dW=Gᵀ·X {ww,6:F1} GFLOP/s");
        }
        return 0;
    }
}
