using BitDistill.Tensors;

namespace BitDistill.Autograd.Ops;

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
