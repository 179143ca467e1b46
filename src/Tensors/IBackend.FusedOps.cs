using BitDistill.Kernels;

namespace BitDistill.Tensors;

// The fused operations: each has ONE definition here. The default implementation is the plain composite (or host-side
// scalar) reference, so the reference backend and any new device backend get a correct version for free; the CPU backend
// overrides each with its fused SIMD kernel (candle's CustomOp: cpu_fwd / cuda_fwd / bwd on one trait), and a device
// backend overrides what it can run on the device.
public partial interface IBackend
{
    /// <summary>A new storage whose contents the caller will overwrite completely (may be a reused, uncleared buffer).</summary>
    Storage AllocateUninitialized(DType dtype, int length) => Allocate(dtype, length);

    /// <summary>Copies the contiguous tensor <paramref name="src"/> (of this device) to host memory, byte for byte.</summary>
    void CopyToHost(Tensor src, Span<byte> dst) => HostCopies.ToHost(src, dst);

    /// <summary>Copies host bytes into the contiguous tensor <paramref name="dst"/> (of this device).</summary>
    void CopyFromHost(ReadOnlySpan<byte> src, Tensor dst) => HostCopies.FromHost(src, dst);

    /// <summary>Waits until every operation launched so far has finished (a no-op where operations run synchronously, as on
    /// the CPU); benchmarks call it before reading the clock.</summary>
    void Synchronize() { }

    /// <summary>Causal / padded scaled-dot-product attention with grouped-query heads: q [B, H, T, D], k and v
    /// [B, Hkv, S, D] (query i sits at key position i + S − T), keyMask [B, S] float (1 = attend, 0 = padding) or null.
    /// Returns the output [B, H, T, D] and each row's log-sum-exp [B, H, T] (−∞ for a fully masked row, whose output is 0).</summary>
    (Tensor output, Tensor lse) Attention(in AttentionShape shape, Tensor q, Tensor k, Tensor v, Tensor? keyMask) =>
        AttentionReference.Forward(shape, q, k, v, keyMask);

    /// <summary>Gradients of <see cref="Attention"/> from the output gradient, recomputing the probabilities from q, k and lse.</summary>
    (Tensor dq, Tensor dk, Tensor dv) AttentionBackward(in AttentionShape shape, Tensor q, Tensor k, Tensor v, Tensor? keyMask,
        Tensor output, Tensor lse, Tensor gradOutput) =>
        AttentionReference.Backward(shape, q, k, v, keyMask, output, lse, gradOutput);

    /// <summary>Mean cross-entropy of the logits hidden·weightᵀ (hidden [N, K], weight [C, K]) against Int64 targets [N],
    /// skipping <paramref name="ignoreIndex"/>; <paramref name="validCount"/> is the number of targets ≠ ignoreIndex (all
    /// checked to lie in [0, C) by the caller). With <paramref name="withGrad"/> also the gradients for an output gradient
    /// of 1. The fused CPU version never materialises the [N, C] logits.</summary>
    LinearCrossEntropyResult LinearCrossEntropy(Tensor hidden, Tensor weight, Tensor targets, long ignoreIndex, int validCount, bool withGrad) =>
        LinearCrossEntropyReference.Compute(hidden, weight, targets, ignoreIndex, validCount, withGrad);

    /// <summary>Logits distillation fused with both LM heads: τ²·KL(softmax(z_T/τ) ‖ softmax(z_S/τ)) with z_S = studentHidden·
    /// studentWeightᵀ (studentHidden [N, K], studentWeight [V, K]) and z_T = teacherHidden·teacherWeightᵀ (teacherHidden
    /// [N, K'], teacherWeight [V, K']), averaged over the rows <paramref name="rowMask"/> [N] keeps (≠ 0; null: all rows).
    /// The teacher is constant; with <paramref name="withGrad"/> also the student's gradients for an output gradient of 1.
    /// The fused CPU version materialises neither [N, V] logits tensor, only row blocks of both.</summary>
    LinearKlDistillationResult LinearKlDistillation(Tensor studentHidden, Tensor studentWeight, Tensor teacherHidden, Tensor teacherWeight,
        Tensor? rowMask, float tau, bool withGrad) =>
        LinearKlDistillationReference.Compute(studentHidden, studentWeight, teacherHidden, teacherWeight, rowMask, tau, withGrad);

    /// <summary>Stage 3's CE + λ·LD in one pass over the student's logits: the mean cross-entropy of hidden·weightᵀ against
    /// Int64 targets [N] (as <see cref="LinearCrossEntropy"/>) and the logits distillation of <see cref="LinearKlDistillation"/>
    /// over the same rows (those with a target), with the gradients of CE + <paramref name="logitsWeight"/>·LD when
    /// <paramref name="withGrad"/>. The fused CPU version computes each block of student logits once for both losses and
    /// multiplies the combined gradient back once, instead of twice each.</summary>
    LinearCrossEntropyWithDistillationResult LinearCrossEntropyWithDistillation(Tensor hidden, Tensor weight, Tensor targets, long ignoreIndex,
        int validCount, Tensor teacherHidden, Tensor teacherWeight, float tau, float logitsWeight, bool withGrad) =>
        LinearCrossEntropyWithDistillationReference.Compute(this, hidden, weight, targets, ignoreIndex, validCount, teacherHidden, teacherWeight, tau, logitsWeight, withGrad);

    /// <summary>Mean over the <paramref name="validCount"/> rows whose target ≠ ignoreIndex of lse − logits[row, target]
    /// (the cross-entropy loss from logits [N, C], their rows' log-sum-exp [N] and Int64 targets [N]); NaN when none is valid.</summary>
    float CrossEntropyMeanLoss(Tensor logits, Tensor lse, Tensor targets, long ignoreIndex, int validCount) =>
        LinearCrossEntropyReference.MeanLoss(logits, lse, targets, ignoreIndex, validCount);

    /// <summary>MiniLM relation KL for one of Q, K or V: Σ KL(softmax(tScale·A_T·A_Tᵀ) ‖ softmax(sScale·A_S·A_Sᵀ)) over the
    /// relation heads and the query rows <paramref name="tokenMask"/> [B, T] keeps (padded keys excluded too), divided by
    /// R × kept rows; student [B, R, T, d], teacher [B, R, T, d′]. With <paramref name="withGrad"/> also dA_S for an output
    /// gradient of 1. The fused CPU version never holds more than one [T, T] block per thread.</summary>
    (float Loss, Tensor? Grad) AttentionRelationKl(Tensor student, Tensor teacher, Tensor? tokenMask, float studentScale, float teacherScale, bool withGrad) =>
        AttentionRelationReference.Compute(student, teacher, tokenMask, studentScale, teacherScale, withGrad);

    /// <summary>Absmean ternarisation of a weight matrix [n, k] for BitLinear: per tensor or per row (<paramref name="mode"/>),
    /// per group of <paramref name="groupSize"/> inputs when given, or with calibrated per-row scales held fixed
    /// (<paramref name="fixedRowScales"/>); with <paramref name="roundingRowScales"/> too, the codes are rounded with those
    /// (codes = ternarise(w / rounding scale)) and dequantised with the fixed ones (GPTQ's rounding vs refitted scales).
    /// A non-finite weight is an error. The result lives outside any TensorScope.</summary>
    TernaryWeights TernarizeWeights(Tensor weight, TernaryScaleMode mode, int? groupSize = null, Tensor? fixedRowScales = null,
        Tensor? roundingRowScales = null) =>
        TernaryWeightReference.Compute(weight, mode, groupSize, fixedRowScales, roundingRowScales);

    /// <summary>GPTQ for quantisation-aware training: solves on the latent weight [n, k] and the running Gram matrix XᵀX/m
    /// [k, k] of the layer's inputs; the solution lives on the weight's device, outside any TensorScope.</summary>
    TernaryGptqSolution SolveTernaryGptq(Tensor weight, Tensor gram, GptqOptions options) => TernaryCalibrationReference.Gptq(weight, gram, options);

    /// <summary>AWQ for quantisation-aware training: the input scales s [k] for the latent weight [n, k], the running Gram
    /// matrix [k, k] and the running mean |x| per input channel [k]; on the weight's device, outside any TensorScope.</summary>
    Tensor SolveTernaryAwq(Tensor weight, Tensor gram, Tensor absMean, AwqOptions options) => TernaryCalibrationReference.Awq(weight, gram, absMean, options);

    /// <summary>Chooses the next token from <paramref name="logits"/> (all its elements: one row) with <paramref name="sampler"/>,
    /// given the ids seen so far; the logits may be modified in place (penalties, masking). Only the chosen id leaves the
    /// device; the default copies the row to the host once and samples there.</summary>
    int SampleToken(Tensor logits, TokenSampler sampler, ReadOnlySpan<int> seen)
    {
        ArgumentNullException.ThrowIfNull(sampler);
        return sampler.Next(logits.Contiguous().ToFloatArray(), seen);
    }

    /// <summary>Per-token absmax INT8 quantisation of x [M, K]: codes = clamp(round(x·127/max|x_row|), −128, 127) and the
    /// per-row scales 127/max(max|x_row|, 1e-5) (BitNet b1.58's activation quantiser).</summary>
    QuantizedActivations QuantizeActivations(Tensor x) => TernaryReference.QuantizeActivations(x);

    /// <summary>The exact ternary×INT8 product y [M, N] = (Σ_k codes[m, k]·w[n, k]) / scale[m] · wScale(n).</summary>
    Tensor TernaryMatMul(QuantizedActivations x, PackedTernaryMatrix weight) => TernaryReference.MatMul(x, weight);

    /// <summary>The exact ternary×INT8 product with ternarised weights: y [M, N] = (Σ_k codes[m, k]·w[n, k]) / scale[m] ·
    /// wScale(n). The default runs on <see cref="TernaryWeights.Packed"/>; a device backend computes from the codes it holds.</summary>
    Tensor TernaryMatMul(QuantizedActivations x, TernaryWeights weight) =>
        TernaryMatMul(x, weight.Packed ?? throw new ArgumentException("per-group ternary weights have no exact ternary product; they compute on the dequantised weights", nameof(weight)));

    /// <summary>The dequantised activations codes · (1/scale) as float32 [M, K] (the reciprocal in float, as the STE's
    /// backward has always formed X̂).</summary>
    Tensor DequantizeActivations(QuantizedActivations x) =>
        x.Codes.To(DType.Float32) * (1f / x.Scales.Reshape(x.Scales.Count, 1));

    /// <summary>One torch.optim.AdamW update of a parameter in place (p, m and v contiguous float32 of one shape).</summary>
    void AdamWUpdate(Tensor param, Tensor grad, Tensor expAvg, Tensor expAvgSq, in AdamWStep step) =>
        OptimizerReference.AdamW(param, grad, expAvg, expAvgSq, step);

    /// <summary>One torch.optim.SGD update in place; <paramref name="momentumBuffer"/> (null without momentum) is
    /// initialised from the gradient when <paramref name="firstStep"/>.</summary>
    void SgdUpdate(Tensor param, Tensor grad, Tensor? momentumBuffer, in SgdStep step, bool firstStep) =>
        OptimizerReference.Sgd(param, grad, momentumBuffer, step, firstStep);

    /// <summary>dst += alpha·src in place (src broadcast to dst's shape): gradient accumulation.</summary>
    void AddInPlace(Tensor dst, Tensor src, float alpha) => dst.CopyFrom(dst + (alpha == 1 ? src : src * alpha));

    /// <summary>Σ x² over all elements, accumulated in double (the squared L2 norm used by gradient clipping).</summary>
    double SumOfSquares(Tensor x) => OptimizerReference.SumOfSquares(x);

    /// <summary>x ← x·factor in place (a contiguous float32 tensor).</summary>
    void ScaleInPlace(Tensor x, float factor) => x.CopyFrom(x * factor);
}
