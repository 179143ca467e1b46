using BitDistill.Kernels;

namespace BitDistill.Tensors;

/// <summary>The plain reference of the fused attention (host-side, double accumulation, materialised probabilities):
/// the default of <see cref="IBackend.Attention"/> and <see cref="IBackend.AttentionBackward"/> and the oracle of the
/// CPU kernels.</summary>
internal static class AttentionReference
{
    public static void Validate(in AttentionShape s, Tensor q, Tensor k, Tensor v, Tensor? mask) => AttentionArguments.Validate(s, q, k, v, mask);

    private static float[] Host(Tensor t) => t.To(DType.Float32).Contiguous().ToArray<float>();

    // Scores of one (b, h) head row i, masked entries −∞; returns the log-sum-exp (−∞ when all are masked).
    private static double Row(in AttentionShape s, float[] q, float[] k, float[]? m, int b, int h, int i, double[] p)
    {
        int T = s.QueryLen, S = s.KeyLen, D = s.HeadDim, g = h / s.Group;
        int qo = ((b * s.Heads + h) * T + i) * D;
        double max = double.NegativeInfinity;
        for (int j = 0; j < S; j++)
        {
            bool masked = (s.Causal && j > i + S - T) || (m is not null && m[b * S + j] == 0);
            if (masked) { p[j] = double.NegativeInfinity; continue; }
            int ko = ((b * s.KvHeads + g) * S + j) * D;
            double dot = 0;
            for (int d = 0; d < D; d++) dot += (double)q[qo + d] * k[ko + d];
            p[j] = dot * s.Scale;
            max = Math.Max(max, p[j]);
        }
        if (double.IsNegativeInfinity(max)) return max;
        double sum = 0;
        for (int j = 0; j < S; j++) sum += Math.Exp(p[j] - max);
        return max + Math.Log(sum);
    }

    public static (Tensor, Tensor) Forward(in AttentionShape s, Tensor qt, Tensor kt, Tensor vt, Tensor? mt)
    {
        Validate(s, qt, kt, vt, mt);
        var (q, k, v, m) = (Host(qt), Host(kt), Host(vt), mt is null ? null : Host(mt));
        int T = s.QueryLen, S = s.KeyLen, D = s.HeadDim;
        var o = new float[s.Batch * s.Heads * T * D]; var lse = new float[s.Batch * s.Heads * T];
        var p = new double[S]; var acc = new double[D];
        for (int b = 0; b < s.Batch; b++)
            for (int h = 0; h < s.Heads; h++)
                for (int i = 0; i < T; i++)
                {
                    double l = Row(s, q, k, m, b, h, i, p);
                    int row = (b * s.Heads + h) * T + i;
                    lse[row] = (float)l;
                    if (double.IsNegativeInfinity(l)) continue;
                    Array.Clear(acc);
                    int g = h / s.Group;
                    for (int j = 0; j < S; j++)
                    {
                        double pj = Math.Exp(p[j] - l);
                        if (pj == 0) continue;
                        int vo = ((b * s.KvHeads + g) * S + j) * D;
                        for (int d = 0; d < D; d++) acc[d] += pj * v[vo + d];
                    }
                    for (int d = 0; d < D; d++) o[row * D + d] = (float)acc[d];
                }
        var dev = qt.Device;
        return (Tensor.FromArray(o, [s.Batch, s.Heads, T, D], dev), Tensor.FromArray(lse, [s.Batch, s.Heads, T], dev));
    }

    public static (Tensor, Tensor, Tensor) Backward(in AttentionShape s, Tensor qt, Tensor kt, Tensor vt, Tensor? mt,
        Tensor ot, Tensor lset, Tensor gt)
    {
        Validate(s, qt, kt, vt, mt);
        var (q, k, v, m, o, g) = (Host(qt), Host(kt), Host(vt), mt is null ? null : Host(mt), Host(ot), Host(gt));
        int T = s.QueryLen, S = s.KeyLen, D = s.HeadDim;
        var dq = new double[q.Length]; var dk = new double[k.Length]; var dv = new double[v.Length];
        var p = new double[S];
        for (int b = 0; b < s.Batch; b++)
            for (int h = 0; h < s.Heads; h++)
            {
                int kvh = h / s.Group;
                for (int i = 0; i < T; i++)
                {
                    // recompute in double (the saved lse is not needed by the reference)
                    double l = Row(s, q, k, m, b, h, i, p);
                    if (double.IsNegativeInfinity(l)) continue;
                    int qo = ((b * s.Heads + h) * T + i) * D;
                    double di = 0;
                    for (int d = 0; d < D; d++) di += (double)g[qo + d] * o[qo + d];
                    for (int j = 0; j < S; j++)
                    {
                        double pj = double.IsNegativeInfinity(p[j]) ? 0 : Math.Exp(p[j] - l);
                        if (pj == 0) continue;
                        int ko = ((b * s.KvHeads + kvh) * S + j) * D;
                        double dp = 0;
                        for (int d = 0; d < D; d++) { dp += (double)g[qo + d] * v[ko + d]; dv[ko + d] += pj * g[qo + d]; }
                        double ds = pj * (dp - di) * s.Scale;
                        for (int d = 0; d < D; d++) { dq[qo + d] += ds * k[ko + d]; dk[ko + d] += ds * q[qo + d]; }
                    }
                }
            }
        var dev = qt.Device;
        static float[] F(double[] a) => Array.ConvertAll(a, x => (float)x);
        return (Tensor.FromArray(F(dq), qt.ShapeArray, dev), Tensor.FromArray(F(dk), kt.ShapeArray, dev), Tensor.FromArray(F(dv), vt.ShapeArray, dev));
    }
}
