using BitDistill.Autograd;
using BitDistill.Models;
using BitDistill.Tensors;

namespace BitDistill.Distill.Objectives;

/// <summary>Attention-relation distillation AD (MiniLMv2, as BitDistill uses it at one layer): Q, K and V after
/// q_norm/k_norm and RoPE, each [B, heads, T, d] (K and V with the KV heads as captured), are concatenated over heads to
/// [B, T, heads·d] and split into R relation heads A [B, R, T, heads·d/R]; relations are softmax(A·Aᵀ/√d_r) (paper) or
/// softmax of the L2-normalised A·Aᵀ (official code). Because relations are T × T, teacher and student may differ in head
/// count, KV-head count, head_dim and hidden size; only R is shared.
/// <para>Normalisation: for each of Q, K and V the row KLs KL(R_T ‖ R_S) are summed over relation heads and valid query
/// tokens and divided by R × (valid tokens); the three are summed. This is MiniLM's kl_div(reduction="batchmean") over the
/// [B·R·T, T] relation rows (each relation head's batchmean over tokens, averaged over heads: the official code's
/// "sum over heads, divided by layers × relation heads" with one layer), restricted to tokens the attention mask keeps;
/// padded tokens are excluded as rows and as columns (keys), so padding never changes the loss.</para></summary>
public static class AttentionRelationLoss
{
    /// <summary>The relation heads MiniLMv2 and the BitDistill code use by default.</summary>
    public const int DefaultRelationHeads = 32;

    /// <summary>AD between the student's and the teacher's captured Q/K/V at their chosen layers, for tokens
    /// <paramref name="tokenMask"/> [B, T] keeps (null: all). Only the student's Q/K/V receive gradients.</summary>
    public static Variable Compute(AttentionCapture student, AttentionCapture teacher, Tensor? tokenMask = null,
        int relationHeads = DefaultRelationHeads, RelationKind kind = RelationKind.ScaledDotProduct)
    {
        if (relationHeads <= 0) throw new ArgumentException($"RelationHeads must be positive, got {relationHeads}");
        var q = Term(student.Query, teacher.Query, "query", tokenMask, relationHeads, kind);
        var k = Term(student.Key, teacher.Key, "key", tokenMask, relationHeads, kind);
        var v = Term(student.Value, teacher.Value, "value", tokenMask, relationHeads, kind);
        return q + k + v;
    }

    /// <summary>One of the three terms: the relation KL of student and teacher vectors [B, heads, T, d].</summary>
    public static Variable Term(Variable student, Variable teacher, string what, Tensor? tokenMask, int relationHeads, RelationKind kind)
    {
        if (student.Rank != 4 || teacher.Rank != 4)
            throw new ArgumentException($"attention relations: {what} must be [B, heads, T, head_dim], got student {Tensor.ShapeString(student.Shape)} and teacher {Tensor.ShapeString(teacher.Shape)}");
        if (student.Size(0) != teacher.Size(0) || student.Size(2) != teacher.Size(2))
            throw new ArgumentException($"attention relations: student {what} {Tensor.ShapeString(student.Shape)} and teacher {what} {Tensor.ShapeString(teacher.Shape)} differ in batch or sequence length");
        var s = Split(student, what, "student", relationHeads);
        Tensor t;
        using (GradMode.NoGrad()) t = Split(new Variable(teacher.Value), what, "teacher", relationHeads).Value;
        float ss, ts;
        if (kind == RelationKind.L2Normalized)
        {
            s = F.L2Normalize(s);
            using (GradMode.NoGrad()) t = F.L2Normalize(new Variable(t)).Value;
            ss = ts = 1f;
        }
        else
        {
            ss = 1f / MathF.Sqrt(s.Size(3));
            ts = 1f / MathF.Sqrt(t.Size(3));
        }
        return F.AttentionRelationKl(s, t, tokenMask, ss, ts);
    }

    // [B, H, T, d] → [B, T, H·d] → [B, R, T, H·d/R]
    private static Variable Split(Variable x, string what, string who, int relationHeads)
    {
        int b = x.Size(0), h = x.Size(1), t = x.Size(2), d = x.Size(3);
        if (h * d % relationHeads != 0)
            throw new ArgumentException($"RelationHeads: the {who}'s {what} width heads·head_dim = {h}·{d} = {h * d} is not divisible by {relationHeads} relation heads");
        return x.Permute(0, 2, 1, 3).Reshape(b, t, relationHeads, h * d / relationHeads).Permute(0, 2, 1, 3);
    }
}
