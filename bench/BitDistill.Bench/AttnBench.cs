using System.Diagnostics;
using BitDistill.Kernels;

namespace BitDistill.Bench;

/// <summary>`attn`: the fused attention kernels at the qwen-train shapes (B 8, H 4, Hkv 2, T 256, D 64), one thread.</summary>
internal static class AttnBench
{
    public static int Run(string[] args)
    {
        using var _ = KernelContext.Override(degreeOfParallelism: 1);
        var s = new AttentionShape(8, 4, 2, 256, 256, 64, 0.125f, true);
        var rng = new Random(1);
        float[] R(int n) { var a = new float[n]; for (int i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1); return a; }
        var q = R(8 * 4 * 256 * 64); var k = R(8 * 2 * 256 * 64); var v = R(8 * 2 * 256 * 64);
        var o = new float[q.Length]; var lse = new float[8 * 4 * 256]; var dout = R(q.Length);
        var dq = new float[q.Length]; var dk = new float[k.Length]; var dv = new float[v.Length];
        double bf = 1e9, bb = 1e9;
        for (int rep = 0; rep < 15; rep++)
        {
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < 10; i++) AttentionKernels.Forward(s, q, 0, k, 0, v, 0, null, o, 0, lse, 0);
            double f = sw.Elapsed.TotalMilliseconds / 10; sw.Restart();
            for (int i = 0; i < 10; i++) AttentionKernels.Backward(s, q, 0, k, 0, v, 0, null, o, 0, lse, 0, dout, 0, dq, dk, dv);
            double b = sw.Elapsed.TotalMilliseconds / 10;
            bf = Math.Min(bf, f); bb = Math.Min(bb, b);
        }
        Console.WriteLine($"attention forward {bf:F2} ms  backward {bb:F2} ms (per layer, best of 15×10)");
        var logits = R(2048 * 8192); var g = new float[logits.Length];
        double bc = 1e9;
        for (int rep = 0; rep < 10; rep++)
        {
            var sw = Stopwatch.StartNew();
            for (int r = 0; r < 2048; r++) BackwardKernels.LogSumExpAndCrossEntropyGrad(logits.AsSpan(r * 8192, 8192), r, 1f / 2048, g.AsSpan(r * 8192, 8192));
            bc = Math.Min(bc, sw.Elapsed.TotalMilliseconds);
        }
        Console.WriteLine($"cross-entropy rows {bc:F2} ms (best of 10)");
        return 0;
    }
}
