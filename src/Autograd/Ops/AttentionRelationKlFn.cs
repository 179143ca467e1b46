using BitDistill.Tensors;

namespace BitDistill.Autograd.Ops;

/// <summary>MiniLM-style relation KL for one of Q, K or V: student vectors A_S [B, R, T, d_S] (differentiable) and teacher
/// vectors A_T [B, R, T, d_T] (a constant; d_T may differ from d_S), relations R = softmax(scale·A·Aᵀ) over the T keys,
/// and Σ KL(R_T ‖ R_S) over the relation heads and the query rows a token mask [B, T] keeps (null: all), divided by
/// R × kept rows (the mean over relation heads and valid tokens). Padded positions are excluded as keys too (their
/// scores are −1e30 before the softmax). Gradient: dS = (P_S − P_T)/(R·N) on kept rows, dA_S = scale·(dS + dSᵀ)·A_S,
/// formed in the forward when recording by the backend's fused op (as linear_cross_entropy does), so only dA_S [B, R, T, d] is kept, never the
/// [B, R, T, T] relations; the backward scales it by the output gradient.</summary>
[Op("attention_relation_kl")]
internal sealed class AttentionRelationKlFn(Tensor? grad) : Function
{
    private Tensor? _grad = grad;

    public static Variable Apply(Variable student, Tensor teacher, Tensor? tokenMask, float studentScale, float teacherScale)
    {
        if (student.Rank != 4 || teacher.Rank != 4 || student.Size(0) != teacher.Size(0) || student.Size(1) != teacher.Size(1) || student.Size(2) != teacher.Size(2))
            throw new ArgumentException($"attention_relation_kl expects student [B, R, T, d] and teacher [B, R, T, d'], got {Tensor.ShapeString(student.Shape)} and {Tensor.ShapeString(teacher.Shape)}");
        int b = student.Size(0), r = student.Size(1), t = student.Size(2);
        if (tokenMask is not null && (tokenMask.Rank != 2 || tokenMask.Shape[0] != b || tokenMask.Shape[1] != t))
            throw new ArgumentException($"attention_relation_kl: token mask {Tensor.ShapeString(tokenMask.Shape)}, expected [{b}, {t}]");
        var a = student.Value.Contiguous();
        var (loss, grad) = a.Backend.AttentionRelationKl(a, teacher, tokenMask, studentScale, teacherScale, Recording(student));
        return Record(new AttentionRelationKlFn(grad), Tensor.Scalar(loss, a.Device), student);
    }

    protected internal override Tensor?[] Backward(Tensor g, bool[] needs)
    {
        float go = g.Item();
        return [go == 1f ? _grad! : _grad! * go];
    }

    protected override void ReleaseSaved() { _grad = null; }
}
