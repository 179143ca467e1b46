namespace BitDistill.Tensors;

/// <summary>The composite reference of <see cref="IBackend.LinearCrossEntropy"/>: materialised logits, the fused
/// cross-entropy row op, and two matrix products for the gradients. Runs on any backend.</summary>
internal static class LinearCrossEntropyReference
{
    public static LinearCrossEntropyResult Compute(Tensor h, Tensor w, Tensor targets, long ignoreIndex, int valid, bool withGrad)
    {
        var logits = h.MatMul(w.T);
        var t = targets.DType == DType.Int64 ? targets : targets.To(DType.Int64);
        Tensor lse; Tensor? grad = null;
        if (withGrad) (lse, grad) = h.Backend.CrossEntropyWithGrad(logits, t, ignoreIndex, 1f / Math.Max(1, valid));
        else lse = h.Backend.LogSumExp(logits);
        float loss = h.Backend.CrossEntropyMeanLoss(logits, lse, t, ignoreIndex, valid); // a device sums its rows there
        return new LinearCrossEntropyResult(loss, grad?.MatMul(w), grad?.T.MatMul(h));
    }

    /// <summary>mean over valid rows of lse − logit[target] (the logits at the targets are gathered on the device).</summary>
    public static float MeanLoss(Tensor logits, Tensor lse, Tensor targets, long ignoreIndex, int valid)
    {
        if (valid == 0) return float.NaN;
        int n = logits.Size(0), c = logits.Size(1);
        var ts = targets.ToArray<long>();
        var rows = new List<long>(valid); var flat = new List<long>(valid);
        for (int i = 0; i < n; i++)
            if (ts[i] != ignoreIndex) { rows.Add(i); flat.Add((long)i * c + ts[i]); }
        var picked = logits.Contiguous().Reshape(-1).IndexSelect(0, Tensor.FromArray(flat.ToArray(), [flat.Count], logits.Device)).ToArray<float>();
        var l = lse.ToArray<float>();
        double sum = 0;
        for (int j = 0; j < picked.Length; j++) sum += l[rows[j]] - picked[j];
        return (float)(sum / valid);
    }
}
