namespace BitDistill.Tensors;

/// <summary>The composite reference of <see cref="IBackend.LinearKlDistillation"/>: both logits tensors materialised,
/// tempered log-softmax rows, the row KLs masked and averaged, and two matrix products for the student's gradients.
/// Runs on any backend.</summary>
internal static class LinearKlDistillationReference
{
    public static LinearKlDistillationResult Compute(Tensor studentHidden, Tensor studentWeight, Tensor teacherHidden, Tensor teacherWeight,
        Tensor? rowMask, float tau, bool withGrad)
    {
        int n = Validate(studentHidden, studentWeight, teacherHidden, teacherWeight, rowMask, tau);
        var kept = rowMask is null ? null : KeptRows(rowMask);
        Tensor? m = null;
        if (kept is not null)
        {
            var keep = new float[n];
            foreach (int i in kept) keep[i] = 1;
            m = Tensor.FromArray(keep, [n, 1], studentHidden.Device);
        }
        int rows = kept?.Length ?? n;
        var logPs = (studentHidden.MatMul(studentWeight.T) * (1f / tau)).LogSoftmax(-1);
        var logPt = (teacherHidden.MatMul(teacherWeight.T) * (1f / tau)).LogSoftmax(-1);
        var pt = logPt.Exp();
        var perRow = (pt * (logPt - logPs)).Sum(-1, keepDim: true);
        if (m is not null) perRow = perRow * m;
        float loss = rows == 0 ? 0f : (float)((double)perRow.Sum().Item() / rows * tau * tau);
        if (!withGrad) return new LinearKlDistillationResult(loss, null, null);
        var g = (logPs.Exp() - pt) * (tau / Math.Max(1, rows));
        if (m is not null) g = g * m;
        return new LinearKlDistillationResult(loss, g.MatMul(studentWeight), g.T.MatMul(studentHidden));
    }

    /// <summary>Checks the operands' shapes; returns N.</summary>
    public static int Validate(Tensor hs, Tensor ws, Tensor ht, Tensor wt, Tensor? rowMask, float tau)
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

    /// <summary>Indices of the rows whose mask entry is not 0.</summary>
    public static int[] KeptRows(Tensor rowMask)
    {
        var m = rowMask.To(DType.Float32).Contiguous().ToArray<float>();
        var kept = new List<int>(m.Length);
        for (int i = 0; i < m.Length; i++) if (m[i] != 0) kept.Add(i);
        return kept.ToArray();
    }
}
