namespace BitDistill.Tensors;

/// <summary>The argument checks every backend's distillation losses make (<see cref="IBackend.LinearKlDistillation"/>,
/// <see cref="IBackend.LinearCrossEntropyWithDistillation"/>, <see cref="IBackend.AttentionRelationKl"/>).</summary>
public static class DistillationArguments
{
    /// <summary>Checks the logits distillation's operands (student hidden [N, K] and head [V, K], teacher hidden [N, K′] and
    /// head [V, K′], a row mask of N entries, τ &gt; 0); returns N.</summary>
    public static int ValidateLinearKl(Tensor hs, Tensor ws, Tensor ht, Tensor wt, Tensor? rowMask, float tau)
    {
        if (hs.Rank != 2 || ws.Rank != 2 || hs.Size(1) != ws.Size(1))
            throw new ArgumentException($"linear_kl_distillation expects student hidden [N, K] and weight [V, K], got {Tensor.ShapeString(hs.Shape)} and {Tensor.ShapeString(ws.Shape)}");
        if (ht.Rank != 2 || wt.Rank != 2 || ht.Size(1) != wt.Size(1))
            throw new ArgumentException($"linear_kl_distillation expects teacher hidden [N, K'] and weight [V, K'], got {Tensor.ShapeString(ht.Shape)} and {Tensor.ShapeString(wt.Shape)}");
        if (ht.Size(0) != hs.Size(0)) throw new ArgumentException($"linear_kl_distillation: {hs.Size(0)} student rows but {ht.Size(0)} teacher rows");
        if (wt.Size(0) != ws.Size(0)) throw new ArgumentException($"linear_kl_distillation: student vocabulary {ws.Size(0)} ≠ teacher vocabulary {wt.Size(0)}");
        if (rowMask is not null && rowMask.Count != hs.Size(0)) throw new ArgumentException($"linear_kl_distillation: row mask of {rowMask.Count} entries for {hs.Size(0)} rows");
        if (!(tau > 0)) throw new ArgumentException($"temperature must be positive, got {tau}");
        return hs.Size(0);
    }

    /// <summary>Checks the attention-relation operands: student [B, R, T, d] and teacher [B, R, T, d′] agree on B, R and T,
    /// and the token mask (if any) has B × T entries.</summary>
    public static void ValidateRelation(Tensor student, Tensor teacher, Tensor? tokenMask)
    {
        if (student.Rank != 4 || teacher.Rank != 4 || !student.Shape[..3].SequenceEqual(teacher.Shape[..3]))
            throw new ArgumentException($"attention_relation_kl expects student [B, R, T, d] and teacher [B, R, T, d'], got {Tensor.ShapeString(student.Shape)} and {Tensor.ShapeString(teacher.Shape)}");
        if (tokenMask is not null && tokenMask.Count != student.Size(0) * student.Size(2))
            throw new ArgumentException($"attention_relation_kl: token mask of {tokenMask.Count} entries for [{student.Size(0)}, {student.Size(2)}] tokens");
    }
}
