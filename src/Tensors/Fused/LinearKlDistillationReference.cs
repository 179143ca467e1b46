using BitDistill.Kernels;

namespace BitDistill.Tensors;

/// <summary>The composite reference of <see cref="IBackend.LinearKlDistillation"/>: both logits tensors materialised,
/// tempered log-softmax rows, the row KLs masked and averaged, and two matrix products for the student's gradients.
/// Runs on any backend.</summary>
internal static class LinearKlDistillationReference
{
    public static LinearKlDistillationResult Compute(Tensor studentHidden, Tensor studentWeight, Tensor teacherHidden, Tensor teacherWeight,
        Tensor? rowMask, float tau, bool withGrad)
    {
        int n = DistillationArguments.ValidateLinearKl(studentHidden, studentWeight, teacherHidden, teacherWeight, rowMask, tau);
        // the kept rows are counted where the tensors live (no host read of the mask), and the loss is the one value read back
        Tensor? m = null, divisor = null;
        if (rowMask is not null)
        {
            var mask = rowMask.Device == studentHidden.Device ? rowMask : rowMask.To(studentHidden.Device);
            m = mask.To(DType.Float32).Contiguous().Compare(CompareOp.Ne, 0f).To(DType.Float32).Reshape(n, 1);
            divisor = m.Sum().Maximum(Tensor.Full([], 1, DType.Float32, studentHidden.Device));
        }
        var logPs = (studentHidden.MatMul(studentWeight.T) * (1f / tau)).LogSoftmax(-1);
        var logPt = (teacherHidden.MatMul(teacherWeight.T) * (1f / tau)).LogSoftmax(-1);
        var pt = logPt.Exp();
        var perRow = (pt * (logPt - logPs)).Sum(-1, keepDim: true);
        if (m is not null) perRow = perRow * m;
        // no kept row: every row's term is 0 and the divisor 1, so the loss is 0
        float loss = divisor is not null ? (perRow.Sum() / divisor).Item() * tau * tau
            : n == 0 ? 0f : (float)((double)perRow.Sum().Item() / n * tau * tau);
        if (!withGrad) return new LinearKlDistillationResult(loss, null, null);
        var g = logPs.Exp() - pt;
        g = divisor is not null ? g * (tau / divisor) * m! : g * (tau / Math.Max(1, n));
        return new LinearKlDistillationResult(loss, g.MatMul(studentWeight), g.T.MatMul(studentHidden));
    }

    /// <summary>Indices of the rows whose mask entry is not 0.</summary>
    public static int[] KeptRows(Tensor rowMask)
    {
        var m = rowMask.To(DType.Float32).Contiguous().ToArray<float>();
        var kept = new List<int>(m.Length);
        for (int i = 0; i < m.Length; i++) if (m[i] != 0) kept.Add(i);
        return kept.ToArray();
    }
}
