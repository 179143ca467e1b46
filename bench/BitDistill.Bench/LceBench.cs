using System.Diagnostics;
using BitDistill.Autograd;
using BitDistill.Kernels;
using BitDistill.Tensors;

namespace BitDistill.Bench;

/// <summary>`lce [threads]`: one thread by default, lm_head + cross-entropy forward and backward at the qwen-train shape (2048 × 256 → 8192),
/// composite (Linear then CrossEntropy) against the fused LinearCrossEntropy; best of 9.</summary>
internal static class LceBench
{
    public static int Run(string[] args)
    {
        using var _ = KernelContext.Override(degreeOfParallelism: args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 1);
        var gen = new Generator(1);
        var h = new Variable(Tensor.Normal([2048, 256], gen), requiresGrad: true);
        var w = new Variable(Tensor.Normal([8192, 256], gen, 0, 0.02f), requiresGrad: true);
        var t = new long[2048]; var r = new Random(1); for (int i = 0; i < t.Length; i++) t[i] = r.Next(8192);
        var targets = Tensor.FromArray(t, [2048]);
        double Time(Func<Variable> loss)
        {
            double best = 1e9;
            for (int i = 0; i < 9; i++)
            {
                using var scope = TensorScope.Begin();
                h.Grad = null; w.Grad = null;
                var sw = Stopwatch.StartNew();
                loss().Backward();
                best = Math.Min(best, sw.Elapsed.TotalMilliseconds);
            }
            return best;
        }
        for (int rep = 0; rep < 2; rep++)
            Console.WriteLine($"composite {Time(() => F.CrossEntropy(F.Linear(h, w), targets)):F1} ms   fused {Time(() => F.LinearCrossEntropy(h, w, targets)):F1} ms");
        return 0;
    }
}
