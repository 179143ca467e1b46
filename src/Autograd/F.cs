using BitDistill.Autograd.Ops;
using BitDistill.Tensors;

namespace BitDistill.Autograd;

/// <summary>The functional API: every differentiable op of the registry by name.</summary>
public static class F
{
    public static Variable Concat(IReadOnlyList<Variable> xs, int axis) => ConcatFn.Apply(xs, axis);
    public static Variable Stack(IReadOnlyList<Variable> xs, int axis = 0) => Concat(xs.Select(x => x.Unsqueeze(axis)).ToArray(), axis);
    public static Variable Where(Tensor cond, Variable a, Variable b) => WhereFn.Apply(cond, a, b);
    /// <summary>Rows of an embedding table [V, H] for Int32/Int64 ids of any shape.</summary>
    public static Variable Embedding(Variable weight, Tensor ids) => IndexSelectFn.Apply(weight, 0, ids);
    /// <summary>x·Wᵀ (+ b) with W [out, in], as torch.nn.functional.linear (Wᵀ is a view, not a copy).</summary>
    public static Variable Linear(Variable x, Variable weight, Variable? bias = null)
    {
        var y = x.MatMul(weight.T);
        return bias is null ? y : y + bias;
    }
    public static Variable RmsNorm(Variable x, Variable? weight, float eps) => RmsNormFn.Apply(x, weight, eps);
    /// <summary>silu(gate)·up (the SwiGLU MLP's gating), fused into one pass forward and one backward.</summary>
    public static Variable SwiGlu(Variable gate, Variable up) => SwiGluFn.Apply(gate, up);
    public static Variable Rope(Variable x, Tensor cos, Tensor sin) => RopeFn.Apply(x, cos, sin);
    public static Variable L2Normalize(Variable x, int axis = -1, float eps = 1e-12f) => L2NormalizeFn.Apply(x, axis, eps);
    /// <summary>Scaled-dot-product attention: q [B, H, T, D], k/v [B, Hkv, S, D]; optional key padding mask [B, S] (1 = keep).</summary>
    public static Variable Attention(Variable q, Variable k, Variable v, bool causal = true, Tensor? keyPaddingMask = null, float? scale = null)
        => AttentionFn.Apply(q, k, v, causal, keyPaddingMask, scale);
    /// <summary>Mean cross-entropy of logits [N, C] against Int64 targets [N], skipping targets equal to ignoreIndex.</summary>
    public static Variable CrossEntropy(Variable logits, Tensor targets, long ignoreIndex = -100) => CrossEntropyFn.Apply(logits, targets, ignoreIndex);
    /// <summary>CrossEntropy(Linear(hidden, weight), targets) for hidden [N, K] and a bias-free weight [C, K], fused in row blocks
    /// so the [N, C] logits and their gradient are never materialised (a language model's training loss).</summary>
    public static Variable LinearCrossEntropy(Variable hidden, Variable weight, Tensor targets, long ignoreIndex = -100) => LinearCrossEntropyFn.Apply(hidden, weight, targets, ignoreIndex);
    /// <summary>τ²·KL(softmax(teacher/τ) ‖ softmax(student/τ)), batchmean over rows (or over rows where rowMask is 1).</summary>
    public static Variable KlDivWithTemperature(Variable studentLogits, Variable teacherLogits, float tau, Tensor? rowMask = null)
        => KlDivFn.Apply(studentLogits, teacherLogits, tau, rowMask);
    /// <summary>τ²·KL(softmax(teacherHidden·teacherWeightᵀ/τ) ‖ softmax(studentHidden·studentWeightᵀ/τ)), batchmean over the
    /// rows rowMask [N] keeps (null: all), fused with both LM heads in row blocks so neither [N, V] logits tensor is
    /// materialised; the teacher operands are constants.</summary>
    public static Variable LinearKlDistillation(Variable studentHidden, Variable studentWeight, Tensor teacherHidden, Tensor teacherWeight, float tau, Tensor? rowMask = null)
        => LinearKlDistillationFn.Apply(studentHidden, studentWeight, teacherHidden, teacherWeight, tau, rowMask);
    /// <summary>CrossEntropy(Linear(hidden, weight), targets) + λ·LinearKlDistillation over the rows with a target, in one
    /// fused pass over the student's logits (stage 3's CE + λ·LD when LD covers the tokens the CE covers).</summary>
    public static FusedDistillationLoss LinearCrossEntropyWithDistillation(Variable hidden, Variable weight, Tensor targets, Tensor teacherHidden,
        Tensor teacherWeight, float tau, float logitsWeight, long ignoreIndex = -100)
        => LinearCrossEntropyWithDistillationFn.Apply(hidden, weight, targets, ignoreIndex, teacherHidden, teacherWeight, tau, logitsWeight);
    /// <summary>MiniLM relation KL of one of Q/K/V: student [B, R, T, d] and constant teacher [B, R, T, d'] vectors, relations
    /// softmax(scale·A·Aᵀ) over the unpadded keys, Σ KL(R_T ‖ R_S) over relation heads and the query rows tokenMask [B, T]
    /// keeps, divided by R × kept rows.</summary>
    public static Variable AttentionRelationKl(Variable student, Tensor teacher, Tensor? tokenMask, float studentScale, float teacherScale)
        => AttentionRelationKlFn.Apply(student, teacher, tokenMask, studentScale, teacherScale);
}
