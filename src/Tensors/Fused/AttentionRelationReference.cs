using BitDistill.Kernels;

namespace BitDistill.Tensors;

/// <summary>The composite reference of <see cref="IBackend.AttentionRelationKl"/>: materialised [B, R, T, T] relations of
/// both sides through tensor ops. Runs on any backend.</summary>
internal static class AttentionRelationReference
{
    // A padded key's score: finite, so a row that is all padding stays NaN-free (it is not counted anyway).
    internal const float MaskedScore = -1e30f;

    public static (float Loss, Tensor? Grad) Compute(Tensor student, Tensor teacher, Tensor? tokenMask, float studentScale, float teacherScale, bool withGrad)
    {
        int b = student.Size(0), r = student.Size(1), t = student.Size(2);
        var a = student.Contiguous();
        Tensor? keys = null, rows = null;
        int kept = b * t;
        if (tokenMask is not null)
        {
            var m = tokenMask.To(DType.Float32).Contiguous();
            kept = m.ToArray<float>().Count(x => x != 0);
            keys = m.Reshape(b, 1, 1, t).Compare(CompareOp.Eq, 0f);
            rows = m.Compare(CompareOp.Ne, 0f).To(DType.Float32).Reshape(b, 1, t, 1);
        }
        var logPs = Relations(a, studentScale, keys);
        var logPt = Relations(teacher.Contiguous(), teacherScale, keys);
        var pt = logPt.Exp();
        var terms = pt * (logPt - logPs);
        if (rows is not null) terms = terms * rows;
        float divisor = (float)r * kept;
        float loss = kept == 0 ? 0f : (float)(terms.Sum().Item() / divisor);
        Tensor? grad = null;
        if (withGrad)
        {
            var ds = logPs.Exp() - pt;
            if (rows is not null) ds = ds * rows;
            grad = (ds + ds.T).MatMul(a) * (studentScale / Math.Max(1f, divisor));
        }
        return (loss, grad);
    }

    // log softmax(scale·A·Aᵀ) over the keys, padded keys excluded
    private static Tensor Relations(Tensor a, float scale, Tensor? paddedKeys)
    {
        var s = a.MatMul(a.T) * scale;
        if (paddedKeys is not null) s = s.MaskedFill(paddedKeys, MaskedScore);
        return s.LogSoftmax(-1);
    }
}
