using BitDistill.Tensors;

namespace BitDistill.Autograd.Ops;

/// <summary>Cross-entropy of logits [N, C] against Int64 targets [N], mean over targets ≠ ignoreIndex, fused with
/// log-softmax. The forward forms dlogits = (softmax − onehot)/n_valid in the same pass as the log-sum-exp and keeps only
/// that; the backward scales it by the output gradient.</summary>
[Op("cross_entropy")]
internal sealed class CrossEntropyFn(Tensor? grad) : Function
{
    private Tensor? _grad = grad;

    public static Variable Apply(Variable logits, Tensor targets, long ignoreIndex)
    {
        if (logits.Rank != 2) throw new ArgumentException($"cross_entropy expects logits [N, C], got {Tensor.ShapeString(logits.Shape)}");
        int n = logits.Size(0), c = logits.Size(1);
        if (targets.Count != n) throw new ArgumentException($"cross_entropy: {targets.Count} targets for {n} rows of logits");
        var t = (targets.DType == DType.Int64 ? targets : targets.To(DType.Int64)).ToArray<long>();
        int valid = 0;
        for (int i = 0; i < n; i++)
        {
            if (t[i] == ignoreIndex) continue;
            if ((ulong)t[i] >= (ulong)c) throw new ArgumentOutOfRangeException(nameof(targets), $"target {t[i]} at row {i} is outside [0, {c}) and is not the ignore index {ignoreIndex}");
            valid++;
        }
        var x = logits.Value.Contiguous();
        bool recording = Recording(logits);
        // Recording: the gradient for an output gradient of 1 is formed now, with the same exp pass as the log-sum-exp, and
        // kept instead of the logits (backward only rescales it if the output gradient is not 1).
        var tt = Tensor.FromArray(t, [n], x.Device);
        Tensor lse; Tensor? grad = null;
        if (recording) (lse, grad) = x.Backend.CrossEntropyWithGrad(x, tt, ignoreIndex, 1f / Math.Max(1, valid));
        else lse = x.Backend.LogSumExp(x);
        float loss = x.Backend.CrossEntropyMeanLoss(x, lse, tt, ignoreIndex, valid);
        return Record(new CrossEntropyFn(grad), Tensor.Scalar(loss, logits.Value.Device), logits);
    }

    protected internal override Tensor?[] Backward(Tensor g, bool[] needs)
    {
        float go = g.Item();
        return [go == 1f ? _grad! : _grad! * go];
    }

    protected override void ReleaseSaved() { _grad = null; }
}

/// <summary>Tempered distillation loss τ²·KL(softmax(z_T/τ) ‖ softmax(z_S/τ)), summed over the vocabulary and averaged over
/// rows (batchmean), optionally over the rows a mask keeps. dz_S = τ·(p_S − p_T)/rows; dz_T = τ·p_T·(d − KL_row)/rows
/// with d = log p_T − log p_S.</summary>
[Op("kl_div_temp")]
internal sealed class KlDivFn(float tau, Tensor logPs, Tensor logPt, Tensor? rowMask, int rows) : Function
{
    private Tensor? _logPs = logPs, _logPt = logPt;

    public static Variable Apply(Variable studentLogits, Variable teacherLogits, float tau, Tensor? rowMask = null)
    {
        if (!studentLogits.Shape.SequenceEqual(teacherLogits.Shape))
            throw new ArgumentException($"kl_div: student {Tensor.ShapeString(studentLogits.Shape)} and teacher {Tensor.ShapeString(teacherLogits.Shape)} logits differ in shape");
        if (!(tau > 0)) throw new ArgumentException($"temperature must be positive, got {tau}");
        int v = studentLogits.Shape[^1];
        var zs = studentLogits.Value.Reshape(-1, v); var zt = teacherLogits.Value.Reshape(-1, v);
        var logPs = (zs / tau).LogSoftmax(-1);
        var logPt = (zt / tau).LogSoftmax(-1);
        var m = rowMask?.Reshape(-1, 1).To(DType.Float32);
        int rows = m is null ? zs.Shape[0] : (int)Math.Round(m.Sum().Item());
        var perRow = (logPt.Exp() * (logPt - logPs)).Sum(-1, keepDim: true);
        if (m is not null) perRow = perRow * m;
        float loss = rows == 0 ? 0f : perRow.Sum().Item() / rows * tau * tau;
        return Record(new KlDivFn(tau, logPs, logPt, m, rows), Tensor.Scalar(loss, zs.Device), studentLogits, teacherLogits);
    }

    protected internal override Tensor?[] Backward(Tensor g, bool[] needs)
    {
        var logPs = _logPs!; var logPt = _logPt!;
        float scale = g.Item() * tau / Math.Max(1, rows);
        var pt = logPt.Exp();
        Tensor? gs = null, gt = null;
        if (needs[0])
        {
            var d = (logPs.Exp() - pt) * scale;
            if (rowMask is not null) d = d * rowMask;
            gs = d.Reshape(Inputs[0]!.Value.ShapeArray);
        }
        if (needs[1])
        {
            var diff = logPt - logPs;
            var kl = (pt * diff).Sum(-1, keepDim: true);
            var d = pt * (diff - kl) * scale;
            if (rowMask is not null) d = d * rowMask;
            gt = d.Reshape(Inputs[1]!.Value.ShapeArray);
        }
        return [gs, gt];
    }

    protected override void ReleaseSaved() { _logPs = _logPt = null; }
}

/// <summary>Mean cross-entropy of the logits h·Wᵀ (h [N, K], W [C, K] as an nn.Linear weight without bias) against Int64
/// targets [N], skipping ignoreIndex, fused by the backend (<see cref="IBackend.LinearCrossEntropy"/>: on the CPU the [N, C]
/// logits are never materialised). The forward keeps only dh and dW; the backward scales them by the output gradient. The
/// same loss as <c>CrossEntropy(Linear(h, W), targets)</c> up to float rounding of dW's block sums. For non-float32
/// operands it is that composite.</summary>
[Op("linear_cross_entropy")]
internal sealed class LinearCrossEntropyFn(Tensor? dh, Tensor? dw) : Function
{
    private Tensor? _dh = dh, _dw = dw;

    public static Variable Apply(Variable hidden, Variable weight, Tensor targets, long ignoreIndex)
    {
        if (hidden.Rank != 2 || weight.Rank != 2 || hidden.Size(1) != weight.Size(1))
            throw new ArgumentException($"linear_cross_entropy expects hidden [N, K] and weight [C, K], got {Tensor.ShapeString(hidden.Shape)} and {Tensor.ShapeString(weight.Shape)}");
        int n = hidden.Size(0), k = hidden.Size(1), c = weight.Size(0);
        if (targets.Count != n) throw new ArgumentException($"linear_cross_entropy: {targets.Count} targets for {n} rows");
        var hv = hidden.Value; var wv = weight.Value;
        if (hv.DType != DType.Float32 || wv.DType != DType.Float32 || n == 0 || k == 0)
            return CrossEntropyFn.Apply(hidden.MatMul(weight.T), targets, ignoreIndex);
        var t = (targets.DType == DType.Int64 ? targets : targets.To(DType.Int64)).ToArray<long>();
        int valid = 0;
        for (int i = 0; i < n; i++)
        {
            if (t[i] == ignoreIndex) continue;
            if ((ulong)t[i] >= (ulong)c) throw new ArgumentOutOfRangeException(nameof(targets), $"target {t[i]} at row {i} is outside [0, {c}) and is not the ignore index {ignoreIndex}");
            valid++;
        }
        bool recording = Recording(hidden, weight);
        var r = hv.Backend.LinearCrossEntropy(hv, wv, Tensor.FromArray(t, [n], hv.Device), ignoreIndex, valid, recording);
        return Record(new LinearCrossEntropyFn(r.HiddenGrad, r.WeightGrad), Tensor.Scalar(r.Loss, hv.Device), hidden, weight);
    }

    protected internal override Tensor?[] Backward(Tensor g, bool[] needs)
    {
        float go = g.Item();
        return [needs[0] ? (go == 1f ? _dh! : _dh! * go) : null, needs[1] ? (go == 1f ? _dw! : _dw! * go) : null];
    }

    protected override void ReleaseSaved() { _dh = _dw = null; }
}
