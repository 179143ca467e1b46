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
        // the kept rows are counted where the tensors live (no host read of the mask), and the loss is the one value read back
        Tensor? keys = null, rows = null, divisor = null;
        if (tokenMask is not null)
        {
            var m = (tokenMask.Device == a.Device ? tokenMask : tokenMask.To(a.Device)).To(DType.Float32).Contiguous();
            keys = m.Reshape(b, 1, 1, t).Compare(CompareOp.Eq, 0f);
            rows = m.Compare(CompareOp.Ne, 0f).To(DType.Float32).Reshape(b, 1, t, 1);
            divisor = (rows.Sum() * r).Maximum(Tensor.Full([], 1, DType.Float32, a.Device));
        }
        var logPs = Relations(a, studentScale, keys);
        var logPt = Relations(teacher.Contiguous(), teacherScale, keys);
        var pt = logPt.Exp();
        var terms = pt * (logPt - logPs);
        if (rows is not null) terms = terms * rows;
        // no kept row: every term is 0 and the divisor 1, so the loss is 0
        float all = (float)r * b * t;
        float loss = divisor is not null ? (terms.Sum() / divisor).Item() : b * t == 0 ? 0f : (float)(terms.Sum().Item() / all);
        Tensor? grad = null;
        if (withGrad)
        {
            var ds = logPs.Exp() - pt;
            if (rows is not null) ds = ds * rows;
            var g = (ds + ds.T).MatMul(a);
            grad = divisor is not null ? g * (studentScale / divisor) : g * (studentScale / Math.Max(1f, all));
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
