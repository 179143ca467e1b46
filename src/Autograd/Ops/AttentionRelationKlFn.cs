using BitDistill.Kernels;
using BitDistill.Tensors;

namespace BitDistill.Autograd.Ops;

/// <summary>MiniLM-style relation KL for one of Q, K or V: student vectors A_S [B, R, T, d_S] (differentiable) and teacher
/// vectors A_T [B, R, T, d_T] (a constant; d_T may differ from d_S), relations R = softmax(scale·A·Aᵀ) over the T keys,
/// and Σ KL(R_T ‖ R_S) over the relation heads and the query rows a token mask [B, T] keeps (null: all), divided by
/// R × kept rows (the mean over relation heads and valid tokens). Padded positions are excluded as keys too (their
/// scores are −1e30 before the softmax). Gradient: dS = (P_S − P_T)/(R·N) on kept rows, dA_S = scale·(dS + dSᵀ)·A_S,
/// formed in the forward when recording (as linear_cross_entropy does), so only dA_S [B, R, T, d] is kept, never the
/// [B, R, T, T] relations; the backward scales it by the output gradient.</summary>
[Op("attention_relation_kl")]
internal sealed class AttentionRelationKlFn(Tensor? grad) : Function
{
    // A padded key's score: finite, so a row that is all padding stays NaN-free (it is not counted anyway).
    private const float MaskedScore = -1e30f;

    private Tensor? _grad = grad;

    public static Variable Apply(Variable student, Tensor teacher, Tensor? tokenMask, float studentScale, float teacherScale)
    {
        if (student.Rank != 4 || teacher.Rank != 4 || student.Size(0) != teacher.Size(0) || student.Size(1) != teacher.Size(1) || student.Size(2) != teacher.Size(2))
            throw new ArgumentException($"attention_relation_kl expects student [B, R, T, d] and teacher [B, R, T, d'], got {Tensor.ShapeString(student.Shape)} and {Tensor.ShapeString(teacher.Shape)}");
        int b = student.Size(0), r = student.Size(1), t = student.Size(2);
        if (tokenMask is not null && (tokenMask.Rank != 2 || tokenMask.Shape[0] != b || tokenMask.Shape[1] != t))
            throw new ArgumentException($"attention_relation_kl: token mask {Tensor.ShapeString(tokenMask.Shape)}, expected [{b}, {t}]");
        var a = student.Value.Contiguous();
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
        if (Recording(student))
        {
            var ds = logPs.Exp() - pt;
            if (rows is not null) ds = ds * rows;
            grad = (ds + ds.T).MatMul(a) * (studentScale / Math.Max(1f, divisor));
        }
        return Record(new AttentionRelationKlFn(grad), Tensor.Scalar(loss, a.Device), student);
    }

    // log softmax(scale·A·Aᵀ) over the keys, padded keys excluded
    private static Tensor Relations(Tensor a, float scale, Tensor? paddedKeys)
    {
        var s = a.MatMul(a.T) * scale;
        if (paddedKeys is not null) s = s.MaskedFill(paddedKeys, MaskedScore);
        return s.LogSoftmax(-1);
    }

    protected internal override Tensor?[] Backward(Tensor g, bool[] needs)
    {
        float go = g.Item();
        return [go == 1f ? _grad! : _grad! * go];
    }

    protected override void ReleaseSaved() { _grad = null; }
}
