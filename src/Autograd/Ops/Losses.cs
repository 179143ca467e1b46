using BitDistill.Kernels;
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
        Tensor lse; Tensor? grad = null;
        if (recording) (lse, grad) = x.Backend.CrossEntropyWithGrad(x, Tensor.FromArray(t, [n], x.Device), ignoreIndex, 1f / Math.Max(1, valid));
        else lse = LogSumExp(x);
        var l = lse.ToArray<float>();
        var xs = x.AsSpan<float>();
        double sum = 0;
        for (int i = 0; i < n; i++)
            if (t[i] != ignoreIndex) sum += l[i] - xs[i * c + (int)t[i]];
        float loss = valid == 0 ? float.NaN : (float)(sum / valid);
        return Record(new CrossEntropyFn(grad), Tensor.Scalar(loss, logits.Value.Device), logits);
    }

    internal static Tensor LogSumExp(Tensor x) => x.Backend.LogSumExp(x);

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
/// targets [N], skipping ignoreIndex, without materialising the [N, C] logits: for each block of
/// <see cref="RowBlock"/> rows it forms the logits block (SGEMM), the rows' log-sum-exp and, when recording, the logits
/// gradient (softmax − onehot)/n_valid in place, then at once dh = G·W for those rows and dW += Gᵀ·h (blocks in order, so
/// the sum is deterministic). The forward keeps only dh and dW; the backward scales them by the output gradient. The same
/// loss as <c>CrossEntropy(Linear(h, W), targets)</c> up to float rounding of dW's block sums. Off the CPU device, or for
/// non-float32 operands, it is that composite.</summary>
[Op("linear_cross_entropy")]
internal sealed class LinearCrossEntropyFn(Tensor? dh, Tensor? dw) : Function
{
    /// <summary>Rows per block: the logits block is RowBlock × C floats (16 MB at C = 8192; 512 measured faster than 256 and 128 at the qwen-train shape), reused for every block.</summary>
    internal const int RowBlock = 512;

    private Tensor? _dh = dh, _dw = dw;

    private static float[] Arr(Tensor t) => (float[])((ManagedStorage)t.Storage).Array;

    public static Variable Apply(Variable hidden, Variable weight, Tensor targets, long ignoreIndex)
    {
        if (hidden.Rank != 2 || weight.Rank != 2 || hidden.Size(1) != weight.Size(1))
            throw new ArgumentException($"linear_cross_entropy expects hidden [N, K] and weight [C, K], got {Tensor.ShapeString(hidden.Shape)} and {Tensor.ShapeString(weight.Shape)}");
        int n = hidden.Size(0), k = hidden.Size(1), c = weight.Size(0);
        if (targets.Count != n) throw new ArgumentException($"linear_cross_entropy: {targets.Count} targets for {n} rows");
        var hv = hidden.Value; var wv = weight.Value;
        if (hv.DType != DType.Float32 || wv.DType != DType.Float32 || hv.Device.Kind != DeviceKind.Cpu || wv.Device.Kind != DeviceKind.Cpu || n == 0 || k == 0)
            return CrossEntropyFn.Apply(hidden.MatMul(weight.T), targets, ignoreIndex);
        var t = (targets.DType == DType.Int64 ? targets : targets.To(DType.Int64)).ToArray<long>();
        int valid = 0;
        for (int i = 0; i < n; i++)
        {
            if (t[i] == ignoreIndex) continue;
            if ((ulong)t[i] >= (ulong)c) throw new ArgumentOutOfRangeException(nameof(targets), $"target {t[i]} at row {i} is outside [0, {c}) and is not the ignore index {ignoreIndex}");
            valid++;
        }
        var h = hv.Contiguous(); var w = wv.Contiguous();
        if (h.Storage is not ManagedStorage || w.Storage is not ManagedStorage)
            return CrossEntropyFn.Apply(hidden.MatMul(weight.T), targets, ignoreIndex);
        bool recording = Recording(hidden, weight);
        float scale = 1f / Math.Max(1, valid);
        int nb = Math.Min(RowBlock, n);
        var blockT = Tensor.Uninitialized([nb, c], DType.Float32, h.Device);
        var buf = Arr(blockT); int bo = blockT.Offset;
        var ha = Arr(h); int ho = h.Offset; var wa = Arr(w); int wo = w.Offset;
        Tensor? dh = recording ? Tensor.Uninitialized([n, k], DType.Float32, h.Device) : null;
        Tensor? dw = recording ? Tensor.Uninitialized([c, k], DType.Float32, h.Device) : null;
        var lse = new float[nb]; var xt = new float[nb];
        double sum = 0;
        for (int r0 = 0; r0 < n; r0 += nb)
        {
            int rows = Math.Min(nb, n - r0);
            var hb = ha.AsSpan(ho + r0 * k, rows * k);
            Sgemm.Multiply(false, true, rows, c, k, 1f, hb, k, wa.AsSpan(wo, c * k), k, 0f, buf.AsSpan(bo, rows * c), c);
            StaticParallel.For(rows, c * 4L, (a0, a1) =>
            {
                for (int i = a0; i < a1; i++)
                {
                    var row = buf.AsSpan(bo + i * c, c);
                    long tg = t[r0 + i];
                    if (tg == ignoreIndex) { if (recording) row.Clear(); continue; }
                    xt[i] = row[(int)tg];
                    lse[i] = recording ? BackwardKernels.LogSumExpAndCrossEntropyGrad(row, (int)tg, scale, row) : BackwardKernels.LogSumExp(row);
                }
            });
            for (int i = 0; i < rows; i++)
                if (t[r0 + i] != ignoreIndex) sum += lse[i] - xt[i];
            if (!recording) continue;
            var g = buf.AsSpan(bo, rows * c);
            Sgemm.Multiply(false, false, rows, k, c, 1f, g, c, wa.AsSpan(wo, c * k), k, 0f, Arr(dh!).AsSpan(dh!.Offset + r0 * k, rows * k), k);
            Sgemm.Multiply(true, false, c, k, rows, 1f, g, c, hb, k, r0 == 0 ? 0f : 1f, Arr(dw!).AsSpan(dw!.Offset, c * k), k);
        }
        float loss = valid == 0 ? float.NaN : (float)(sum / valid);
        var result = Tensor.Scalar(loss, h.Device);
        return Record(new LinearCrossEntropyFn(dh, dw), result, hidden, weight);
    }

    protected internal override Tensor?[] Backward(Tensor g, bool[] needs)
    {
        float go = g.Item();
        return [needs[0] ? (go == 1f ? _dh! : _dh! * go) : null, needs[1] ? (go == 1f ? _dw! : _dw! * go) : null];
    }

    protected override void ReleaseSaved() { _dh = _dw = null; }
}
