using BitDistill.Kernels;

namespace BitDistill.Tests;

/// <summary>The fused attention kernels against double-precision references with materialised probabilities, at sizes
/// that span several causal query blocks (T &gt; <see cref="AttentionKernels.QueryBlock"/>, not a multiple of it), with a
/// KV-cache offset (S &gt; T), key padding, grouped-query heads, an odd head width, and every SIMD level.</summary>
public class AttentionKernelTests
{
    public static IEnumerable<object[]> Cases() =>
        from level in Enum.GetValues<SimdLevel>().Where(l => l <= KernelContext.HardwareSimd)
        from c in new (int T, int S, bool causal, bool mask)[] { (150, 150, true, false), (70, 203, true, true), (131, 131, true, true), (67, 90, false, true), (1, 97, true, false) }
        select new object[] { level, c.T, c.S, c.causal, c.mask };

    private static float[] Random(int n, Random r) { var a = new float[n]; for (int i = 0; i < n; i++) a[i] = (float)(r.NextDouble() * 2 - 1); return a; }

    [Theory, MemberData(nameof(Cases))]
    public void ForwardAndBackwardMatchTheReference(SimdLevel level, int T, int S, bool causal, bool withMask)
    {
        const int B = 2, H = 4, Hkv = 2, D = 13;
        var s = new AttentionShape(B, H, Hkv, T, S, D, 1f / MathF.Sqrt(D), causal);
        var r = new Random(T * 1000 + S);
        var q = Random(B * H * T * D, r); var k = Random(B * Hkv * S * D, r); var v = Random(B * Hkv * S * D, r); var dout = Random(B * H * T * D, r);
        float[]? mask = null;
        if (withMask)
        {
            mask = new float[B * S];
            for (int i = 0; i < mask.Length; i++) mask[i] = r.NextDouble() < 0.2 ? 0 : 1;
            mask[0] = 1; // not every row fully masked
        }
        var o = new float[q.Length]; var lse = new float[B * H * T];
        var dq = new float[q.Length]; var dk = new float[k.Length]; var dv = new float[v.Length];
        using (KernelContext.Override(simd: level))
        {
            AttentionKernels.Forward(s, q, 0, k, 0, v, 0, mask, o, 0, lse, 0);
            AttentionKernels.Backward(s, q, 0, k, 0, v, 0, mask, o, 0, lse, 0, dout, 0, dq, dk, dv);
        }
        var (ro, rdq, rdk, rdv) = Reference(s, q, k, v, mask, dout);
        Close(ro, o, "o"); Close(rdq, dq, "dq"); Close(rdk, dk, "dk"); Close(rdv, dv, "dv");
    }

    private static void Close(double[] expected, float[] actual, string what)
    {
        double scale = expected.Max(Math.Abs);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-4 * scale + 1e-6, $"{what}[{i}]: expected {expected[i]}, got {actual[i]}");
    }

    // Materialised P per head in double: o = P·V; dV = Pᵀ·dO; dS = P ∘ (dO·Vᵀ − rowsum(dO ∘ o)); dQ = dS·K·scale; dK = dSᵀ·Q·scale.
    private static (double[] o, double[] dq, double[] dk, double[] dv) Reference(AttentionShape s, float[] q, float[] k, float[] v, float[]? mask, float[] dout)
    {
        int T = s.QueryLen, S = s.KeyLen, D = s.HeadDim, shift = S - T;
        var o = new double[q.Length]; var dq = new double[q.Length]; var dk = new double[k.Length]; var dv = new double[v.Length];
        var p = new double[T, S];
        for (int b = 0; b < s.Batch; b++)
            for (int h = 0; h < s.Heads; h++)
            {
                int qo = (b * s.Heads + h) * T * D, kvo = (b * s.KvHeads + h / s.Group) * S * D;
                for (int i = 0; i < T; i++)
                {
                    double m = double.NegativeInfinity;
                    for (int j = 0; j < S; j++)
                    {
                        bool masked = (s.Causal && j > i + shift) || (mask is not null && mask[b * S + j] == 0);
                        double dot = 0;
                        for (int d = 0; d < D; d++) dot += (double)q[qo + i * D + d] * k[kvo + j * D + d];
                        p[i, j] = masked ? double.NegativeInfinity : dot * s.Scale;
                        m = Math.Max(m, p[i, j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < S; j++) { p[i, j] = double.IsNegativeInfinity(m) ? 0 : Math.Exp(p[i, j] - m); sum += p[i, j]; }
                    for (int j = 0; j < S; j++) p[i, j] = sum == 0 ? 0 : p[i, j] / sum;
                    for (int d = 0; d < D; d++) { double acc = 0; for (int j = 0; j < S; j++) acc += p[i, j] * v[kvo + j * D + d]; o[qo + i * D + d] = acc; }
                }
                for (int i = 0; i < T; i++)
                {
                    double di = 0;
                    for (int d = 0; d < D; d++) di += dout[qo + i * D + d] * o[qo + i * D + d];
                    for (int j = 0; j < S; j++)
                    {
                        if (p[i, j] == 0) continue;
                        double dp = 0;
                        for (int d = 0; d < D; d++) { dp += dout[qo + i * D + d] * (double)v[kvo + j * D + d]; dv[kvo + j * D + d] += p[i, j] * dout[qo + i * D + d]; }
                        double ds = p[i, j] * (dp - di) * s.Scale;
                        for (int d = 0; d < D; d++) { dq[qo + i * D + d] += ds * k[kvo + j * D + d]; dk[kvo + j * D + d] += ds * q[qo + i * D + d]; }
                    }
                }
            }
        return (o, dq, dk, dv);
    }
}
