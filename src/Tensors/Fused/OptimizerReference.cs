using BitDistill.Kernels;

namespace BitDistill.Tensors;

/// <summary>Plain host-side references of the optimizer updates and the clipping norm (the defaults of
/// <see cref="IBackend"/>, and the oracle the CPU backend's fused versions are tested against).</summary>
internal static class OptimizerReference
{
    private static void Check(Tensor t, string name, Tensor like)
    {
        if (t.DType != DType.Float32 || !t.IsContiguous) throw new ArgumentException($"optimizer tensor '{name}' must be contiguous float32, got {t.DType}{(t.IsContiguous ? "" : " (strided)")}");
        if (!t.Shape.SequenceEqual(like.Shape)) throw new ArgumentException($"optimizer tensor '{name}' has shape {Tensor.ShapeString(t.Shape)}, the parameter {Tensor.ShapeString(like.Shape)}");
    }

    public static void AdamW(Tensor p, Tensor g, Tensor m, Tensor v, in AdamWStep s)
    {
        Check(p, "param", p); Check(g, "grad", p); Check(m, "exp_avg", p); Check(v, "exp_avg_sq", p);
        var (pa, ga, ma, va) = (p.ToArray<float>(), g.ToArray<float>(), m.ToArray<float>(), v.ToArray<float>());
        OptimKernels.AdamWReference(pa, ga, ma, va, s.Lr, s.Beta1, s.Beta2, s.Eps, s.WeightDecay, s.Bc1, s.Bc2Sqrt);
        p.CopyFrom(Tensor.FromArray(pa, p.ShapeArray, p.Device)); m.CopyFrom(Tensor.FromArray(ma, m.ShapeArray, m.Device)); v.CopyFrom(Tensor.FromArray(va, v.ShapeArray, v.Device));
    }

    public static void Sgd(Tensor p, Tensor g, Tensor? buf, in SgdStep s, bool first)
    {
        Check(p, "param", p); Check(g, "grad", p);
        if (buf is not null) Check(buf, "momentum_buffer", p);
        var w = p.ToArray<float>(); var ga = g.ToArray<float>(); var b = buf?.ToArray<float>();
        SgdRange(w, ga, b, s, first);
        p.CopyFrom(Tensor.FromArray(w, p.ShapeArray, p.Device));
        if (buf is not null) buf.CopyFrom(Tensor.FromArray(b!, buf.ShapeArray, buf.Device));
    }

    /// <summary>The SGD update over spans (the gradient span is used as scratch).</summary>
    public static void SgdRange(Span<float> w, Span<float> g, Span<float> b, in SgdStep s, bool first)
    {
        for (int i = 0; i < g.Length; i++) g[i] += s.WeightDecay * w[i];
        if (s.Momentum != 0)
            for (int i = 0; i < g.Length; i++)
            {
                b[i] = first ? g[i] : s.Momentum * b[i] + g[i];
                g[i] = s.Nesterov ? g[i] + s.Momentum * b[i] : b[i];
            }
        for (int i = 0; i < g.Length; i++) w[i] -= s.Lr * g[i];
    }

    public static double SumOfSquares(Tensor x) => SumOfSquares(x.To(DType.Float32).ToArray<float>());

    public static double SumOfSquares(ReadOnlySpan<float> x)
    {
        double s = 0;
        foreach (var v in x) s += (double)v * v;
        return s;
    }
}
