using BitDistill.Autograd;
using BitDistill.Kernels;
using BitDistill.Models.Layers;
using BitDistill.Tensors;

namespace BitDistill.Models.BitNet;

/// <summary>A drop-in replacement for <see cref="Linear"/> with 1.58-bit weights and 8-bit activations (BitNet b1.58):
/// W_q = clamp(round(W / mean|W|), −1, 1)·mean|W| (absmean, round half to even), per-token absmax INT8 activations, and the
/// straight-through estimator for both. The forward runs the shared ternary×INT8 kernels of BitDistill.Kernels
/// (quantise activations → exact int32 product with the packed weights → rescale), the same ones the deployment runtime
/// uses, so what is trained is what is deployed. The packed weights are refreshed lazily whenever the latent float weight
/// changed (optimizer step, load). An optional RMSNorm (SubLN) is applied to the input first.
/// With a GPTQ- or AWQ-style training quantiser (<see cref="WeightQuantizer"/>) every training forward (training mode with
/// gradients recorded) folds the layer's float input (after SubLN; at most 512 evenly strided token rows per batch) into
/// running statistics — an exponential moving average of XᵀX/m (and, for AWQ, of mean |x| per input channel) — and every
/// <see cref="BitNetConfig.RequantEvery"/> optimizer steps (<see cref="AfterOptimizerStep"/>; the first solve happens at the
/// first training forward) the layer re-solves on its current latent weight W:
/// GPTQ (<see cref="TernaryCalibration.GptqFromGram"/>) gives per-row rounding scales r, refitted scales t and the error
/// feedback D (the compensated weight minus W); between solves r, t and D stay fixed and the codes are re-rounded every
/// step, codes = ternarise((W + D) / r), Ŵ = codes·t, so the forward follows the latent weight and equals GPTQ's solution
/// right after a solve. AWQ (<see cref="TernaryCalibration.AwqFromStatistics"/>, α on an 11-point grid scored on the
/// running Gram matrix) gives input scales s; every step W·diag(s) is absmean-ternarised per row and the layer computes
/// (x / s)·Ŵᵀ. The backward is the straight-through estimator to W in both cases (for AWQ through diag(s): dW = dŴ·diag(s)).
/// Statistics and solution are buffers (qat_*), saved with the model and the trainer's checkpoints.</summary>
public sealed class BitLinear : Linear
{
    private TernaryWeights? _ternary; // codes, scales, dequantised and packed weights of the current latent weight
    private TernaryWeights? _snapshot; // the ternarisation at the last diagnostics snapshot (instances are immutable)
    private long _version = -1;

    // Post-training calibration (GPTQ/AWQ), on the weight's device outside any TensorScope: per-row scales that absmean must
    // not recompute, and for AWQ 1 / s (the layer computes on x / s) with s kept for saving.
    private Tensor? _fixedScales;
    private Tensor? _inputScale, _inverseInputScale;
    private readonly TrainingQuantizerState? _qat; // GPTQ-/AWQ-style training quantiser (null: absmean)
    private long _qatVersion = -1;

    /// <summary>A BitLinear with fresh weights. With a <paramref name="calibration"/> (GPTQ or AWQ) the layer holds fixed
    /// per-row scales (buffer weight_scale [out]) and, for AWQ, input scales (buffer input_scale [in]), as written by
    /// <see cref="ApplyCalibration"/>. With a GPTQ or AWQ <paramref name="quantizer"/> the layer trains with that quantiser
    /// (per-row scales; <paramref name="scaleMode"/> is ignored), re-solving every <paramref name="requantEvery"/> optimizer
    /// steps on statistics that decay by <paramref name="statsDecay"/> per training batch.</summary>
    public BitLinear(int inFeatures, int outFeatures, bool bias, Generator? gen = null, float std = 0.02f,
        WeightScaleMode scaleMode = WeightScaleMode.PerTensor, int groupSize = 128, CalibrationKind calibration = CalibrationKind.None,
        WeightQuantizer quantizer = WeightQuantizer.Absmean, int requantEvery = BitNetConfig.DefaultRequantEvery, double statsDecay = BitNetConfig.DefaultStatsDecay)
        : base(inFeatures, outFeatures, bias, gen, std)
    {
        Quantizer = quantizer;
        if (quantizer != WeightQuantizer.Absmean)
        {
            if (calibration != CalibrationKind.None) throw new ArgumentException("a post-training calibration cannot be combined with a GPTQ/AWQ training quantiser", nameof(calibration));
            _qat = new TrainingQuantizerState(quantizer, outFeatures, inFeatures, requantEvery, statsDecay);
            foreach (var (name, get, set) in _qat.Buffers(() => Weight.Value.Device)) Buffer(name, get, set);
            scaleMode = WeightScaleMode.PerChannel;
        }
        ScaleMode = scaleMode;
        GroupSize = groupSize;
        Calibration = calibration;
        if (calibration != CalibrationKind.None)
        {
            if (!Enum.IsDefined(calibration)) throw new ArgumentOutOfRangeException(nameof(calibration), calibration, "unknown calibration kind");
            _fixedScales = Vector(Tensor.Ones(outFeatures), outFeatures, "weight_scale");
            Buffer("weight_scale", () => _fixedScales!, t => { _fixedScales = Vector(t, outFeatures, "weight_scale"); Weight.MarkChanged(); });
            if (calibration == CalibrationKind.Awq)
            {
                SetInputScale(Tensor.Ones(inFeatures));
                Buffer("input_scale", () => _inputScale!, SetInputScale);
            }
        }
    }

    // A calibration vector [n]: checked, a float32 copy of its own on the weight's device, outside any TensorScope.
    private Tensor Vector(Tensor t, int n, string name)
    {
        if (t.Rank != 1 || t.Shape[0] != n) throw new ArgumentException($"{name} must be [{n}], got {Tensor.ShapeString(t.Shape)}");
        using (TensorScope.Suspend()) return t.To(DType.Float32).To(Weight.Value.Device).Clone();
    }

    private void SetInputScale(Tensor s)
    {
        _inputScale = Vector(s, InFeatures, "input_scale");
        using (TensorScope.Suspend()) _inverseInputScale = 1f / _inputScale;
    }

    /// <summary>The post-training calibration whose fixed scales this layer uses, or <see cref="CalibrationKind.None"/> (absmean, recomputed).</summary>
    public CalibrationKind Calibration { get; }

    /// <summary>The quantiser the weights train with (absmean, or the GPTQ-/AWQ-style training quantisers).</summary>
    public WeightQuantizer Quantizer { get; }

    /// <summary>GPTQ/AWQ in training: how many times the layer solved so far (0 for absmean, or before the first training forward).</summary>
    public int QuantizerSolves => _qat?.Solves ?? 0;

    /// <summary>Called by the trainer after every optimizer step: a GPTQ/AWQ training quantiser counts the step and re-solves
    /// on the current latent weight every <see cref="BitNetConfig.RequantEvery"/> steps. Nothing happens for absmean.</summary>
    public void AfterOptimizerStep()
    {
        if (_qat is not null && _qat.CountStep()) _qat.Solve(Weight.Value);
    }

    /// <summary>Re-solves the GPTQ/AWQ training quantiser now on the running statistics (no-op for absmean or before any training batch).</summary>
    public void SolveQuantizer() => _qat?.Solve(Weight.Value);

    // AWQ in training: s [in] once solved (the backward multiplies dW by it), else null.
    internal Tensor? TrainingInputScale => _qat?.InputScale(Weight.Value.Device);

    /// <summary>Installs a calibrated ternarisation (from GPTQ or AWQ): the latent weight becomes codes·scale, the per-row
    /// scales are fixed, and AWQ's input scales divide the input. The layer must have been built with the same calibration.</summary>
    public void ApplyCalibration(TernaryQuantization q)
    {
        if (Calibration == CalibrationKind.None) throw new InvalidOperationException("this BitLinear was not built for calibrated scales (construct it with a CalibrationKind)");
        if (q.Rows != OutFeatures || q.Cols != InFeatures) throw new ArgumentException($"calibration result [{q.Rows}, {q.Cols}] does not fit BitLinear [{OutFeatures}, {InFeatures}]");
        if ((q.InputScales is not null) != (Calibration == CalibrationKind.Awq)) throw new ArgumentException($"a {(q.InputScales is null ? "GPTQ" : "AWQ")} result cannot be applied to a layer built for {Calibration}");
        Weight.Value.CopyFrom(Tensor.FromArray(q.RowScaledCodes(), [OutFeatures, InFeatures], Weight.Value.Device));
        _fixedScales = Vector(Tensor.FromArray(q.RowScales(), [OutFeatures]), OutFeatures, "weight_scale");
        if (q.InputScales is not null) SetInputScale(Tensor.FromArray(q.InputScales, [InFeatures]));
        Weight.MarkChanged();
    }

    /// <summary>Observes the float input of the ternary product (after SubLN and input scaling), e.g. to collect calibration activations.</summary>
    public Action<Tensor>? InputObserver { get; set; }

    /// <summary>A BitLinear that takes over a Linear's weights (and bias); the Linear is not modified.</summary>
    public static BitLinear FromLinear(Linear src, WeightScaleMode scaleMode = WeightScaleMode.PerTensor, int groupSize = 128, CalibrationKind calibration = CalibrationKind.None,
        WeightQuantizer quantizer = WeightQuantizer.Absmean, int requantEvery = BitNetConfig.DefaultRequantEvery, double statsDecay = BitNetConfig.DefaultStatsDecay)
    {
        var b = new BitLinear(src.InFeatures, src.OutFeatures, src.Bias is not null, null, 0.02f, scaleMode, groupSize, calibration, quantizer, requantEvery, statsDecay);
        b.Weight.Value.CopyFrom(src.Weight.Value); b.Weight.MarkChanged();
        if (src.Bias is not null) b.Bias!.Value.CopyFrom(src.Bias.Value);
        return b;
    }

    /// <summary>Weight scale granularity.</summary>
    public WeightScaleMode ScaleMode { get; }
    /// <summary>Group size for <see cref="WeightScaleMode.PerGroup"/>.</summary>
    public int GroupSize { get; }
    /// <summary>SubLN: an RMSNorm applied to the input before quantisation (null = none).</summary>
    public RmsNorm? InputNorm { get; private set; }
    /// <summary>Quantisation warm-up factor λ ∈ [0, 1]: the layer uses w + λ(q(w) − w) and x + λ(q(x) − x); 1 = fully quantised.</summary>
    public float QuantizationStrength { get; set; } = 1f;

    /// <summary>Attaches an input RMSNorm owned by this layer (registered as child "sub_norm": the "all" SubLN placement).</summary>
    public RmsNorm AddOwnedInputNorm(float eps)
    {
        InputNorm = Child("sub_norm", new RmsNorm(InFeatures, eps));
        return InputNorm;
    }

    /// <summary>Uses a norm registered elsewhere (e.g. self_attn.attn_sub_norm, the paper's SubLN placement) on the input.</summary>
    public void UseInputNorm(RmsNorm norm)
    {
        if (norm.Weight.Size(0) != InFeatures) throw new ArgumentException($"SubLN of size {norm.Weight.Size(0)} does not match BitLinear input {InFeatures}");
        InputNorm = norm;
    }

    /// <summary>The packed ternary weights the kernels use (refreshed if the latent weight changed).</summary>
    public PackedTernaryMatrix Packed { get { Refresh(); return _ternary!.Packed!; } }

    /// <summary>A copy of the dequantised ternary weights [out, in], row-major (refreshed if needed).</summary>
    public float[] DequantizedWeight { get { Refresh(); return _ternary!.Dequantized.ToFloatArray(); } }

    /// <summary>Re-quantises the latent weights if they changed since the last call.</summary>
    public void Refresh()
    {
        long qv = _qat?.Version ?? 0;
        if (_version == Weight.Version && _qatVersion == qv && _ternary is not null) return;
        var w = Weight.Value;
        _ternary = _qat is not null ? _qat.Ternarize(w)
            : _fixedScales is not null ? w.Backend.TernarizeWeights(w, TernaryScaleMode.PerRow, null, _fixedScales)
            : ScaleMode switch
            {
                WeightScaleMode.PerTensor => w.Backend.TernarizeWeights(w, TernaryScaleMode.PerTensor),
                WeightScaleMode.PerChannel => w.Backend.TernarizeWeights(w, TernaryScaleMode.PerRow),
                _ => w.Backend.TernarizeWeights(w, TernaryScaleMode.PerRow, GroupSize),
            };
        _version = Weight.Version;
        _qatVersion = qv;
    }

    /// <summary>Starts a new training run for the GPTQ-/AWQ-style training quantiser (no-op for absmean): see
    /// <see cref="TrainingQuantizerState.Restart"/>.</summary>
    internal void RestartTrainingQuantizer() => _qat?.Restart();

    public override Variable Forward(Variable x)
    {
        if (InputNorm is not null) x = InputNorm.Forward(x);
        if (_qat is not null && Training && GradMode.IsEnabled) // training forwards only: evaluation and no-grad passes leave the statistics alone
        {
            _qat.Observe(x.Value.Contiguous().Reshape(-1, InFeatures));
            if (_qat.Solves == 0) _qat.Solve(Weight.Value); // the first training batch solves at once, so no step runs on plain absmean
        }
        if (_inverseInputScale is not null)
        {
            if (_inverseInputScale.Device != x.Value.Device) using (TensorScope.Suspend()) _inverseInputScale = _inverseInputScale.To(x.Value.Device);
            x = x * new Variable(_inverseInputScale);
        }
        else if (_qat?.InverseInputScale(x.Value.Device) is { } inv) x = x * new Variable(inv);
        InputObserver?.Invoke(x.Value);
        Refresh();
        var y = BitLinearFn.Apply(this, x);
        return Bias is null ? y : y + Bias;
    }

    /// <summary>Shares of −1, 0 and +1 among the current ternary weights.</summary>
    public (double minus, double zero, double plus) TernaryShares()
    {
        Refresh();
        return _ternary!.Shares();
    }

    /// <summary>The weight scale(s) in use (one for per-tensor), copied to the host.</summary>
    public float[] Scales()
    {
        Refresh();
        return _ternary!.Scales.ToFloatArray();
    }

    /// <summary>Share of ternary values changed since the previous call (the flip rate); 0 on the first call.</summary>
    public double FlipRateSinceSnapshot()
    {
        Refresh();
        double rate = _snapshot is null ? 0 : _ternary!.ChangedShare(_snapshot);
        _snapshot = _ternary;
        return rate;
    }

    internal Tensor WHat => _ternary!.Dequantized;

    // The current ternarisation (refreshed if the latent weight changed).
    internal TernaryWeights Ternary { get { Refresh(); return _ternary!; } }
}
