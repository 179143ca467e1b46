using System.Numerics.Tensors;
using BitDistill.Kernels;

namespace BitDistill.Tensors;

// The CPU backend's fused operations (their definitions and references: IBackend.FusedOps.cs).
public sealed partial class CpuBackend
{
    /// <summary>Rows per block of the fused linear + cross-entropy: the logits block is RowBlock × C floats (16 MB at
    /// C = 8192; 512 measured faster than 256 and 128 at the qwen-train shape), reused for every block.</summary>
    public const int LinearCrossEntropyRowBlock = 512;

    /// <summary>Rows per block of the fused linear + KL distillation: two logits blocks (student and teacher) of
    /// RowBlock × V floats are reused for every block (2 × 64 MB at V = 65536).</summary>
    public const int LinearKlDistillationRowBlock = 256;

    public Storage AllocateUninitialized(DType dtype, int length) => TensorScope.Allocate(dtype, length, Device, clear: false);

    private static float[] Arr(Tensor t) => (float[])M(t).Array;

    // [B, Hkv, S, D] with contiguous rows of D, rows of one head adjacent, and heads not overlapping: the filled prefix of a
    // preallocated KV cache [B, Hkv, capacity, D] is read in place.
    private static bool RowBlocks(Tensor t) =>
        t.Storage is ManagedStorage && t.DType == DType.Float32 && t.Stride(3) == 1 && t.Stride(2) == t.Size(3) && t.Stride(1) >= t.Size(2) * t.Size(3)
        && (t.Size(0) == 1 || t.Stride(0) >= t.Size(1) * t.Stride(1));

    private static float[]? MaskArray(Tensor? mask) => mask?.To(DType.Float32).Contiguous().ToArray<float>();

    public (Tensor output, Tensor lse) Attention(in AttentionShape shape, Tensor q, Tensor k, Tensor v, Tensor? keyMask)
    {
        AttentionReference.Validate(shape, q, k, v, keyMask);
        RequireFloat(q, "attention"); RequireFloat(k, "attention"); RequireFloat(v, "attention");
        var qc = q.Contiguous();
        bool inPlace = RowBlocks(k) && RowBlocks(v) && k.Stride(0) == v.Stride(0) && k.Stride(1) == v.Stride(1);
        var kc = inPlace ? k : k.Contiguous(); var vc = inPlace ? v : v.Contiguous();
        var o = Out([shape.Batch, shape.Heads, shape.QueryLen, shape.HeadDim]);
        var lse = Out([shape.Batch, shape.Heads, shape.QueryLen]);
        AttentionKernels.Forward(shape, Arr(qc), qc.Offset, Arr(kc), kc.Offset, Arr(vc), vc.Offset, MaskArray(keyMask),
            Arr(o), o.Offset, Arr(lse), lse.Offset, kc.Stride(0), kc.Stride(1));
        return (o, lse);
    }

    public (Tensor dq, Tensor dk, Tensor dv) AttentionBackward(in AttentionShape shape, Tensor q, Tensor k, Tensor v, Tensor? keyMask,
        Tensor output, Tensor lse, Tensor gradOutput)
    {
        AttentionReference.Validate(shape, q, k, v, keyMask);
        var (qc, kc, vc, oc, lc, gc) = (q.Contiguous(), k.Contiguous(), v.Contiguous(), output.Contiguous(), lse.Contiguous(), gradOutput.Contiguous());
        var dq = Out(q.ShapeArray); var dk = Out(k.ShapeArray); var dv = Out(v.ShapeArray);
        // The kernel indexes dq/dk/dv from 0: fresh outputs always start at offset 0.
        AttentionKernels.Backward(shape, Arr(qc), qc.Offset, Arr(kc), kc.Offset, Arr(vc), vc.Offset, MaskArray(keyMask),
            Arr(oc), oc.Offset, Arr(lc), lc.Offset, Arr(gc), gc.Offset, Arr(dq), Arr(dk), Arr(dv));
        return (dq, dk, dv);
    }

    public LinearCrossEntropyResult LinearCrossEntropy(Tensor hidden, Tensor weight, Tensor targets, long ignoreIndex, int validCount, bool withGrad)
    {
        if (hidden.Rank != 2 || weight.Rank != 2 || hidden.Size(1) != weight.Size(1))
            throw new ArgumentException($"linear_cross_entropy expects hidden [N, K] and weight [C, K], got {Tensor.ShapeString(hidden.Shape)} and {Tensor.ShapeString(weight.Shape)}");
        int n = hidden.Size(0), k = hidden.Size(1), c = weight.Size(0);
        if (hidden.DType != DType.Float32 || weight.DType != DType.Float32 || n == 0 || k == 0)
            return LinearCrossEntropyReference.Compute(hidden, weight, targets, ignoreIndex, validCount, withGrad);
        var t = (targets.DType == DType.Int64 ? targets : targets.To(DType.Int64)).ToArray<long>();
        var h = hidden.Contiguous(); var w = weight.Contiguous();
        float scale = 1f / Math.Max(1, validCount);
        // Only rows with a target cost logits: task fine-tuning scores a few answer tokens per sequence, and computing the
        // [N, C] logits (and three GEMMs of that size) for every position would spend most of the step on rows whose
        // loss and gradient are zero. Rows are gathered into blocks in their original order, so sums stay deterministic.
        var kept = new int[n];
        int nk = 0;
        for (int i = 0; i < n; i++) if (t[i] != ignoreIndex) kept[nk++] = i;
        bool gather = nk < n;
        var ha = Arr(h); int ho = h.Offset; var wa = Arr(w); int wo = w.Offset;
        Tensor? dh = withGrad ? (gather ? New([n, k]) : Out([n, k])) : null; // ignored rows keep a zero gradient
        Tensor? dw = withGrad ? (nk == 0 ? New([c, k]) : Out([c, k])) : null;
        if (nk == 0) return new LinearCrossEntropyResult(validCount == 0 ? float.NaN : 0f, dh, dw);
        int nb = Math.Min(LinearCrossEntropyRowBlock, nk);
        var blockT = Out([nb, c]);
        var buf = Arr(blockT); int bo = blockT.Offset;
        Tensor? hbT = gather ? Out([nb, k]) : null;
        var lse = new float[nb]; var xt = new float[nb];
        double sum = 0;
        for (int r0 = 0; r0 < nk; r0 += nb)
        {
            int rows = Math.Min(nb, nk - r0);
            Span<float> hb;
            if (gather)
            {
                var hba = Arr(hbT!);
                for (int i = 0; i < rows; i++) Array.Copy(ha, ho + kept[r0 + i] * k, hba, hbT!.Offset + i * k, k);
                hb = hba.AsSpan(hbT!.Offset, rows * k);
            }
            else hb = ha.AsSpan(ho + r0 * k, rows * k);
            // the logits block, then per row its log-sum-exp and (recording) the gradient (softmax − onehot)/n_valid in place
            Sgemm.Multiply(false, true, rows, c, k, 1f, hb, k, wa.AsSpan(wo, c * k), k, 0f, buf.AsSpan(bo, rows * c), c);
            StaticParallel.For(rows, c * 4L, (a0, a1) =>
            {
                for (int i = a0; i < a1; i++)
                {
                    var row = buf.AsSpan(bo + i * c, c);
                    int tg = (int)t[kept[r0 + i]];
                    xt[i] = row[tg];
                    lse[i] = withGrad ? BackwardKernels.LogSumExpAndCrossEntropyGrad(row, tg, scale, row) : BackwardKernels.LogSumExp(row);
                }
            });
            for (int i = 0; i < rows; i++) sum += lse[i] - xt[i];
            if (!withGrad) continue;
            // dW += Gᵀ·h (blocks in order: the sum is deterministic), then the block's dh rows G·W (scattered when gathered)
            var g = buf.AsSpan(bo, rows * c);
            Sgemm.Multiply(true, false, c, k, rows, 1f, g, c, hb, k, r0 == 0 ? 0f : 1f, Arr(dw!).AsSpan(dw!.Offset, c * k), k);
            if (!gather)
            {
                Sgemm.Multiply(false, false, rows, k, c, 1f, g, c, wa.AsSpan(wo, c * k), k, 0f, Arr(dh!).AsSpan(dh!.Offset + r0 * k, rows * k), k);
                continue;
            }
            Sgemm.Multiply(false, false, rows, k, c, 1f, g, c, wa.AsSpan(wo, c * k), k, 0f, hb, k);
            var dha = Arr(dh!);
            for (int i = 0; i < rows; i++) hb.Slice(i * k, k).CopyTo(dha.AsSpan(dh!.Offset + kept[r0 + i] * k, k));
        }
        float loss = validCount == 0 ? float.NaN : (float)(sum / validCount);
        return new LinearCrossEntropyResult(loss, dh, dw);
    }

    public LinearKlDistillationResult LinearKlDistillation(Tensor studentHidden, Tensor studentWeight, Tensor teacherHidden, Tensor teacherWeight,
        Tensor? rowMask, float tau, bool withGrad)
    {
        int n = DistillationArguments.ValidateLinearKl(studentHidden, studentWeight, teacherHidden, teacherWeight, rowMask, tau);
        int k = studentHidden.Size(1), kt = teacherHidden.Size(1), c = studentWeight.Size(0);
        if (studentHidden.DType != DType.Float32 || studentWeight.DType != DType.Float32 || teacherHidden.DType != DType.Float32
            || teacherWeight.DType != DType.Float32 || k == 0 || kt == 0 || c == 0)
            return LinearKlDistillationReference.Compute(studentHidden, studentWeight, teacherHidden, teacherWeight, rowMask, tau, withGrad);
        int[] kept = rowMask is null ? Enumerable.Range(0, n).ToArray() : LinearKlDistillationReference.KeptRows(rowMask);
        int rowsKept = kept.Length;
        Tensor? dh = withGrad ? New([n, k]) : null; // rows the mask drops keep a zero gradient
        Tensor? dw = withGrad ? New([c, k]) : null;
        if (rowsKept == 0) return new LinearKlDistillationResult(0f, dh, dw);
        float invTau = 1f / tau, gradScale = tau / rowsKept;
        double sum = 0;
        // each row's KL, with the student row becoming G = τ·(p_S − p_T)/rows
        KeptRowHeadBlocks(studentHidden, studentWeight, teacherHidden, teacherWeight, kept, rowsKept, dh, dw, (zs, zso, zt, zto, _, rows) =>
        {
            var kl = new float[rows];
            StaticParallel.For(rows, c * 8L, (a0, a1) =>
            {
                var scratch = new float[c];
                for (int i = a0; i < a1; i++)
                    kl[i] = DistillationKernels.TemperedKlAndGrad(zs.AsSpan(zso + i * c, c), zt.AsSpan(zto + i * c, c), invTau, gradScale, scratch);
            });
            for (int i = 0; i < rows; i++) sum += kl[i];
        });
        float loss = (float)(sum / rowsKept * tau * tau);
        return new LinearKlDistillationResult(loss, dh, dw);
    }

    public LinearCrossEntropyWithDistillationResult LinearCrossEntropyWithDistillation(Tensor hidden, Tensor weight, Tensor targets, long ignoreIndex,
        int validCount, Tensor teacherHidden, Tensor teacherWeight, float tau, float logitsWeight, bool withGrad)
    {
        int n = DistillationArguments.ValidateLinearKl(hidden, weight, teacherHidden, teacherWeight, null, tau);
        int k = hidden.Size(1), kt = teacherHidden.Size(1), c = weight.Size(0);
        if (targets.Count != n) throw new ArgumentException($"linear_cross_entropy_with_distillation: {targets.Count} targets for {n} rows");
        if (hidden.DType != DType.Float32 || weight.DType != DType.Float32 || teacherHidden.DType != DType.Float32
            || teacherWeight.DType != DType.Float32 || k == 0 || kt == 0 || c == 0)
            return LinearCrossEntropyWithDistillationReference.Compute(this, hidden, weight, targets, ignoreIndex, validCount, teacherHidden, teacherWeight, tau, logitsWeight, withGrad);
        var t = (targets.DType == DType.Int64 ? targets : targets.To(DType.Int64)).ToArray<long>();
        var kept = new int[n];
        int nk = 0;
        for (int i = 0; i < n; i++) if (t[i] != ignoreIndex) kept[nk++] = i;
        Tensor? dh = withGrad ? New([n, k]) : null; // rows without a target keep a zero gradient
        Tensor? dw = withGrad ? New([c, k]) : null;
        if (nk == 0) return new LinearCrossEntropyWithDistillationResult(validCount == 0 ? float.NaN : 0f, 0f, dh, dw);
        float invTau = 1f / tau, ceScale = 1f / Math.Max(1, validCount), klScale = logitsWeight * tau / nk;
        double ceSum = 0, klSum = 0;
        // each row's logits feed both losses: CE's gradient in place, the tempered KL's on a copy, then summed (G = ∂(CE + λ·LD)/∂z_S)
        KeptRowHeadBlocks(hidden, weight, teacherHidden, teacherWeight, kept, nk, dh, dw, (zs, zso, zt, zto, r0, rows) =>
        {
            var ceRow = new double[rows]; var klRow = new float[rows];
            StaticParallel.For(rows, c * 12L, (a0, a1) =>
            {
                var copy = new float[c]; var scratch = new float[c];
                for (int i = a0; i < a1; i++)
                {
                    var z = zs.AsSpan(zso + i * c, c);
                    int tg = (int)t[kept[r0 + i]];
                    z.CopyTo(copy);
                    float xt = z[tg];
                    float lse = withGrad ? BackwardKernels.LogSumExpAndCrossEntropyGrad(z, tg, ceScale, z) : BackwardKernels.LogSumExp(z);
                    ceRow[i] = (double)lse - xt;
                    klRow[i] = DistillationKernels.TemperedKlAndGrad(copy, zt.AsSpan(zto + i * c, c), invTau, klScale, scratch);
                    if (withGrad) TensorPrimitives.Add(z, copy, z);
                }
            });
            for (int i = 0; i < rows; i++) { ceSum += ceRow[i]; klSum += klRow[i]; }
        });
        float ce = validCount == 0 ? float.NaN : (float)(ceSum / validCount);
        return new LinearCrossEntropyWithDistillationResult(ce, (float)(klSum / nk * tau * tau), dh, dw);
    }

    /// <summary>Row block of the student's and teacher's logits for the kept rows, in order.</summary>
    private delegate void HeadBlockKernel(float[] studentLogits, int studentOffset, float[] teacherLogits, int teacherOffset, int firstKept, int rows);

    // The skeleton shared by the fused head losses: blocks of the kept rows (gathered hidden states), both logits blocks by
    // SGEMM, the loss's row kernel (which leaves ∂loss/∂z_S in the student block), then dW_S += Gᵀ·h_S (blocks in order:
    // deterministic) and the block's dh rows G·W_S scattered to the kept rows (dh and dw null: no gradient).
    private void KeptRowHeadBlocks(Tensor studentHidden, Tensor studentWeight, Tensor teacherHidden, Tensor teacherWeight, int[] kept, int keptCount,
        Tensor? dh, Tensor? dw, HeadBlockKernel rowKernel)
    {
        int k = studentHidden.Size(1), kt = teacherHidden.Size(1), c = studentWeight.Size(0);
        var hs = studentHidden.Contiguous(); var ws = studentWeight.Contiguous();
        var ht = teacherHidden.Contiguous(); var wt = teacherWeight.Contiguous();
        var hsa = Arr(hs); var wsa = Arr(ws); var hta = Arr(ht); var wta = Arr(wt);
        int nb = Math.Min(LinearKlDistillationRowBlock, keptCount);
        var zsT = Out([nb, c]); var ztT = Out([nb, c]); var hsbT = Out([nb, k]); var htbT = Out([nb, kt]);
        var zs = Arr(zsT); int zso = zsT.Offset; var zt = Arr(ztT); int zto = ztT.Offset;
        var hsb = Arr(hsbT); int hso = hsbT.Offset; var htb = Arr(htbT); int hto = htbT.Offset;
        for (int r0 = 0; r0 < keptCount; r0 += nb)
        {
            int rows = Math.Min(nb, keptCount - r0);
            for (int i = 0; i < rows; i++)
            {
                int row = kept[r0 + i];
                Array.Copy(hsa, hs.Offset + row * k, hsb, hso + i * k, k);
                Array.Copy(hta, ht.Offset + row * kt, htb, hto + i * kt, kt);
            }
            var hBlock = hsb.AsSpan(hso, rows * k);
            Sgemm.Multiply(false, true, rows, c, k, 1f, hBlock, k, wsa.AsSpan(ws.Offset, c * k), k, 0f, zs.AsSpan(zso, rows * c), c);
            Sgemm.Multiply(false, true, rows, c, kt, 1f, htb.AsSpan(hto, rows * kt), kt, wta.AsSpan(wt.Offset, c * kt), kt, 0f, zt.AsSpan(zto, rows * c), c);
            rowKernel(zs, zso, zt, zto, r0, rows);
            if (dw is null || dh is null) continue;
            var g = zs.AsSpan(zso, rows * c);
            Sgemm.Multiply(true, false, c, k, rows, 1f, g, c, hBlock, k, 1f, Arr(dw).AsSpan(dw.Offset, c * k), k);
            Sgemm.Multiply(false, false, rows, k, c, 1f, g, c, wsa.AsSpan(ws.Offset, c * k), k, 0f, hBlock, k);
            var dha = Arr(dh);
            for (int i = 0; i < rows; i++) Array.Copy(hsb, hso + i * k, dha, dh.Offset + kept[r0 + i] * k, k);
        }
    }

    /// <summary>Samples straight from the logits' managed memory (no copy); a non-contiguous or non-float32 row is copied first.</summary>
    public int SampleToken(Tensor logits, TokenSampler sampler, ReadOnlySpan<int> seen)
    {
        ArgumentNullException.ThrowIfNull(logits);
        var row = logits.DType == DType.Float32 ? logits.Contiguous() : logits.To(DType.Float32);
        return InferenceOps.Sample(sampler, row, seen);
    }

    public QuantizedActivations QuantizeActivations(Tensor x)
    {
        var (xc, m, k) = TernaryReference.Rows(x, "QuantizeActivations");
        var q = Out([m, k], DType.Int8); var scales = Out([m]);
        ActivationQuantizer.QuantizePerToken(M(xc).AsSpan<float>().Slice(xc.Offset, m * k), m, k,
            M(q).AsSpan<sbyte>().Slice(q.Offset, m * k), M(scales).AsSpan<float>().Slice(scales.Offset, m), new int[m]);
        return new QuantizedActivations(q, scales);
    }

    public Tensor TernaryMatMul(QuantizedActivations x, PackedTernaryMatrix weight)
    {
        TernaryReference.CheckProduct(x, weight);
        var codes = x.Codes.Contiguous(); var scales = x.Scales.Contiguous();
        var y = Out([x.Rows, weight.Rows]);
        TernaryGemm.Multiply(M(codes).AsSpan<sbyte>().Slice(codes.Offset, codes.Count), M(scales).AsSpan<float>().Slice(scales.Offset, scales.Count),
            x.Rows, weight, M(y).AsSpan<float>().Slice(y.Offset, y.Count));
        return y;
    }

    private static Span<float> Params(Tensor t, string name, Tensor like)
    {
        if (t.DType != DType.Float32 || !t.IsContiguous) throw new ArgumentException($"optimizer tensor '{name}' must be contiguous float32, got {t.DType}{(t.IsContiguous ? "" : " (strided)")}");
        if (t.Count != like.Count) throw new ArgumentException($"optimizer tensor '{name}' has shape {Tensor.ShapeString(t.Shape)}, the parameter {Tensor.ShapeString(like.Shape)}");
        return M(t).AsSpan<float>().Slice(t.Offset, t.Count);
    }

    public void AdamWUpdate(Tensor param, Tensor grad, Tensor expAvg, Tensor expAvgSq, in AdamWStep s)
    {
        var g = grad.Contiguous();
        OptimKernels.AdamW(Params(param, "param", param), Params(g, "grad", param), Params(expAvg, "exp_avg", param), Params(expAvgSq, "exp_avg_sq", param),
            s.Lr, s.Beta1, s.Beta2, s.Eps, s.WeightDecay, s.Bc1, s.Bc2Sqrt);
    }

    public void SgdUpdate(Tensor param, Tensor grad, Tensor? momentumBuffer, in SgdStep s, bool firstStep)
    {
        var g = grad.Contiguous().ToArray<float>(); // scratch: the update adds weight decay and momentum into it
        if (g.Length != param.Count) throw new ArgumentException($"SGD: gradient of {g.Length} elements for a parameter of {param.Count}");
        var b = momentumBuffer is null ? Span<float>.Empty : Params(momentumBuffer, "momentum_buffer", param);
        OptimizerReference.SgdRange(Params(param, "param", param), g, b, s, firstStep);
    }

    public void AddInPlace(Tensor dst, Tensor src, float alpha)
    {
        if (dst.DType == DType.Float32 && src.DType == DType.Float32 && dst.IsContiguous && src.IsContiguous && src.Count == dst.Count
            && src.Shape.SequenceEqual(dst.Shape))
        {
            var d = M(dst).AsSpan<float>().Slice(dst.Offset, dst.Count);
            var s = M(src).AsSpan<float>().Slice(src.Offset, src.Count);
            if (alpha == 1) Elementwise.Binary(BinaryOp.Add, d, s, d);
            else for (int i = 0; i < d.Length; i++) d[i] += alpha * s[i];
            return;
        }
        dst.CopyFrom(dst + (alpha == 1 ? src : src * alpha));
    }

    public double SumOfSquares(Tensor x)
    {
        var xs = x; var span = Floats(ref xs);
        return OptimizerReference.SumOfSquares(span);
    }

    public void ScaleInPlace(Tensor x, float factor)
    {
        var span = Params(x, "x", x);
        Elementwise.BinaryRight(BinaryOp.Mul, span, factor, span);
    }

    public (float Loss, Tensor? Grad) AttentionRelationKl(Tensor student, Tensor teacher, Tensor? tokenMask, float studentScale, float teacherScale, bool withGrad)
    {
        DistillationArguments.ValidateRelation(student, teacher, tokenMask);
        if (student.DType != DType.Float32 || teacher.DType != DType.Float32)
            return AttentionRelationReference.Compute(student, teacher, tokenMask, studentScale, teacherScale, withGrad);
        int b = student.Size(0), r = student.Size(1), t = student.Size(2), ds = student.Size(3), dt = teacher.Size(3);
        var a = student.Contiguous(); var at = teacher.Contiguous();
        var mask = tokenMask?.To(DType.Float32).Contiguous().ToArray<float>();
        int kept = mask is null ? b * t : mask.Count(x => x != 0);
        float divisor = (float)r * kept;
        var grad = withGrad ? Out([b, r, t, ds]) : null;
        var aa = Arr(a); int ao = a.Offset; var ta = Arr(at); int to = at.Offset;
        var ga = grad is null ? null : Arr(grad);
        var partial = new double[b * r];
        float gScale = studentScale / Math.Max(1f, divisor);
        // one (batch, relation head) block per item: its [T, T] scores live in per-thread scratch only
        StaticParallel.For(b * r, (long)t * t * (ds + dt + 8), (p0, p1) =>
        {
            var sS = new float[t * t]; var sT = new float[t * t]; var scratch = new float[t];
            for (int p = p0; p < p1; p++)
            {
                int bi = p / r;
                var aS = aa.AsSpan(ao + p * t * ds, t * ds); var aT = ta.AsSpan(to + p * t * dt, t * dt);
                Sgemm.Multiply(false, true, t, t, ds, studentScale, aS, ds, aS, ds, 0f, sS, t);
                Sgemm.Multiply(false, true, t, t, dt, teacherScale, aT, dt, aT, dt, 0f, sT, t);
                double sum = 0;
                for (int i = 0; i < t; i++)
                {
                    var rowS = sS.AsSpan(i * t, t); var rowT = sT.AsSpan(i * t, t);
                    if (mask is not null)
                        for (int j = 0; j < t; j++)
                            if (mask[bi * t + j] == 0) { rowS[j] = AttentionRelationReference.MaskedScore; rowT[j] = AttentionRelationReference.MaskedScore; }
                    if (mask is not null && mask[bi * t + i] == 0) { rowS.Clear(); continue; } // not a kept query row: no loss, no gradient
                    sum += DistillationKernels.RelationKlAndGrad(rowS, rowT, scratch);
                }
                partial[p] = sum;
                if (ga is null) continue;
                // dA_S = scale/divisor · (G + Gᵀ)·A_S with G = P_S − P_T (now in sS): symmetrised in place, then one product
                DistillationKernels.AddTransposeInPlace(sS, t);
                var dA = ga.AsSpan(grad!.Offset + p * t * ds, t * ds);
                NarrowGemm.Multiply(sS, aS, dA, t, t, ds, gScale);
            }
        });
        double total = 0;
        foreach (var v in partial) total += v;
        return (kept == 0 ? 0f : (float)(total / divisor), grad);
    }
}
