using BitDistill.Kernels;
using BitDistill.Tensors;

namespace BitDistill.Models.BitNet;

/// <summary>The state of one BitLinear's GPTQ- or AWQ-style training quantiser: running input statistics (Gram matrix
/// XᵀX/m, and for AWQ mean |x| per input channel) collected by training forwards, and the last solution (GPTQ: rounding
/// and output scales per row plus the error-feedback correction D; AWQ: input scales s). All of it is exposed as module
/// buffers (names <c>qat_*</c>), so a saved model reloads with the same forward and a resumed run continues identically.</summary>
internal sealed class TrainingQuantizerState
{
    private readonly int _n, _k;
    // Every tensor lives on the weight's device, outside any TensorScope; only the three counters are host values.
    private Tensor? _gram;          // [k, k] running XᵀX/m (float32); meaningful once a batch was observed
    private Tensor? _absMean;       // [k] running mean |x| (AWQ)
    private Tensor? _feedback;      // [n, k] GPTQ: compensated − W at the last solve
    private Tensor? _scale;         // [n] GPTQ: per-row output scales (null: never solved nor loaded, i.e. ones)
    private Tensor? _roundScale;    // [n] GPTQ: per-row scales the codes are rounded with
    private Tensor? _inputScale;    // [k] AWQ: the layer computes on x / s
    private Tensor? _inverseInputScale; // [k] AWQ: 1 / s, formed once per solve or load
    private long _batchesObserved, _stepsSinceSolve, _solves;

    public TrainingQuantizerState(WeightQuantizer kind, int outFeatures, int inFeatures, int requantEvery, double statsDecay)
    {
        if (kind == WeightQuantizer.Absmean || !Enum.IsDefined(kind)) throw new ArgumentOutOfRangeException(nameof(kind), kind, "GPTQ or AWQ expected");
        if (requantEvery <= 0) throw new ArgumentOutOfRangeException(nameof(requantEvery), requantEvery, "must be positive");
        if (!(statsDecay >= 0 && statsDecay < 1)) throw new ArgumentOutOfRangeException(nameof(statsDecay), statsDecay, "must be in [0, 1)");
        Kind = kind; _n = outFeatures; _k = inFeatures; RequantEvery = requantEvery; StatsDecay = statsDecay;
    }

    public WeightQuantizer Kind { get; }
    public int RequantEvery { get; }
    public double StatsDecay { get; }
    /// <summary>Bumped whenever the solution changes (solve, load): the layer's cached ternary weights are then stale.</summary>
    public long Version { get; private set; }
    /// <summary>Number of solves so far (0: the layer still uses per-row absmean).</summary>
    public int Solves => (int)_solves;
    /// <summary>Training batches folded into the running statistics.</summary>
    public long BatchesObserved => _batchesObserved;

    /// <summary>AWQ input scales s [k] on <paramref name="device"/> once solved, else null (s = 1).</summary>
    public Tensor? InputScale(Device device) => Kind == WeightQuantizer.Awq && Solves > 0 ? OnDevice(ref _inputScale, [_k], device) : null;
    /// <summary>1 / s [k] (AWQ, solved) or null.</summary>
    public Tensor? InverseInputScale(Device device)
    {
        if (InputScale(device) is not { } s) return null;
        if (_inverseInputScale is null || _inverseInputScale.Device != device)
            using (TensorScope.Suspend()) _inverseInputScale = 1f / s;
        return _inverseInputScale;
    }

    /// <summary>The ternarisation the forward uses for latent weight <paramref name="w"/> [n, k]: per-row absmean before the
    /// first solve; GPTQ: codes = ternarise((W + D) / rounding scale), values codes · scale; AWQ: per-row absmean of W·diag(s).</summary>
    public TernaryWeights Ternarize(Tensor w)
    {
        if (Solves == 0) return w.Backend.TernarizeWeights(w, TernaryScaleMode.PerRow);
        if (Kind == WeightQuantizer.Gptq)
            return w.Backend.TernarizeWeights(w + OnDevice(ref _feedback, [_n, _k], w.Device), TernaryScaleMode.PerRow, null,
                OnDevice(ref _scale, [_n], w.Device), OnDevice(ref _roundScale, [_n], w.Device));
        return w.Backend.TernarizeWeights(w * InputScale(w.Device)!, TernaryScaleMode.PerRow);
    }

    /// <summary>Rows of a training batch folded into the statistics: larger batches contribute every ⌈m / 512⌉-th row, so
    /// the Gram update (m·k² multiply-adds) stays well below the cost of the layer's own product.</summary>
    public const int MaxRowsPerBatch = 512;

    /// <summary>Folds a training batch's input x [m, k] (float, after SubLN, before any input scaling) into the running statistics
    /// (at most <see cref="MaxRowsPerBatch"/> evenly strided rows).</summary>
    public void Observe(Tensor x)
    {
        if (x.Size(0) == 0) return;
        int stride = (x.Size(0) + MaxRowsPerBatch - 1) / MaxRowsPerBatch;
        if (stride > 1) x = x.Slice(0, 0, x.Size(0), stride).Contiguous();
        int m = x.Size(0);
        var xf = x.DType == DType.Float32 ? x : x.To(DType.Float32);
        var g = xf.T.MatMul(xf) * (1f / m);
        var a = Kind == WeightQuantizer.Awq ? xf.Abs().Mean(0) : null;
        float d = BatchesObserved == 0 ? 0f : (float)StatsDecay;
        using (TensorScope.Suspend())
        {
            _gram = _gram is null || d == 0 ? g * 1f : _gram * d + g * (1 - d);
            if (a is not null) _absMean = _absMean is null || d == 0 ? a * 1f : _absMean * d + a * (1 - d);
        }
        _batchesObserved++;
    }

    /// <summary>Counts an optimizer step; true when a solve is due (every <see cref="RequantEvery"/> steps).</summary>
    public bool CountStep()
    {
        _stepsSinceSolve++;
        return _stepsSinceSolve >= RequantEvery && BatchesObserved > 0;
    }

    /// <summary>Solves GPTQ or AWQ on the current latent weight <paramref name="w"/> [n, k] and the running statistics
    /// (nothing happens before the first observed batch).</summary>
    public void Solve(Tensor w)
    {
        if (BatchesObserved == 0 || _gram is null) return;
        if (Kind == WeightQuantizer.Gptq)
        {
            var r = w.Backend.SolveTernaryGptq(w, _gram, new GptqOptions());
            (_feedback, _scale, _roundScale) = (r.Feedback, r.Scales, r.RoundingScales);
        }
        else
        {
            // RefitScale off: the forward re-ternarises W·diag(s) with plain per-row absmean every step, so α is scored on that.
            _inputScale = w.Backend.SolveTernaryAwq(w, _gram, _absMean!, new AwqOptions { RefitScale = false, GridPoints = AwqGridPoints });
            _inverseInputScale = null;
        }
        _stepsSinceSolve = 0;
        _solves++;
        Version++;
    }

    /// <summary>Forgets the statistics and the solution, so the next training forward observes its own data and solves at
    /// once: a new training run (a new stage, new data) must not carry a solution fitted to other weights and data for up to
    /// <see cref="RequantEvery"/> steps (measured: a task stage that kept stage 2's first solve fell to chance).</summary>
    public void Restart()
    {
        _batchesObserved = _stepsSinceSolve = _solves = 0;
        _inverseInputScale = null;
        Version++;
    }

    /// <summary>α values searched per AWQ solve in training (0, 0.1, …, 1): half the post-training grid, as a solve recurs.</summary>
    public const int AwqGridPoints = 11;

    /// <summary>The buffers (name, get, set) the owning BitLinear registers.</summary>
    public IEnumerable<(string Name, Func<Tensor> Get, Action<Tensor> Set)> Buffers(Func<Device> device)
    {
        yield return ("qat_state", () => Tensor.FromArray(new float[] { _batchesObserved, _stepsSinceSolve, _solves }, [3]), t =>
        {
            var v = Load(t, [3], "qat_state", Device.Cpu).ToFloatArray();
            (_batchesObserved, _stepsSinceSolve, _solves) = ((long)v[0], (long)v[1], (long)v[2]);
            _inverseInputScale = null;
            Version++;
        });
        yield return ("qat_gram", () => _gram ?? Tensor.Zeros([_k, _k], DType.Float32, device()), t => _gram = Load(t, [_k, _k], "qat_gram", device()));
        if (Kind == WeightQuantizer.Gptq)
        {
            yield return ("qat_weight_scale", () => OnDevice(ref _scale, [_n], device()), t => { _scale = Load(t, [_n], "qat_weight_scale", device()); Version++; });
            yield return ("qat_round_scale", () => OnDevice(ref _roundScale, [_n], device()), t => { _roundScale = Load(t, [_n], "qat_round_scale", device()); Version++; });
            yield return ("qat_feedback", () => _feedback ?? Tensor.Zeros([_n, _k], DType.Float32, device()),
                t => { _feedback = Load(t, [_n, _k], "qat_feedback", device()); Version++; });
        }
        else
        {
            yield return ("qat_input_absmean", () => _absMean ?? Tensor.Zeros([_k], DType.Float32, device()), t => _absMean = Load(t, [_k], "qat_input_absmean", device()));
            yield return ("qat_input_scale", () => OnDevice(ref _inputScale, [_k], device()),
                t => { _inputScale = Load(t, [_k], "qat_input_scale", device()); _inverseInputScale = null; Version++; });
        }
    }

    // A loaded buffer: shape checked, a float32 copy of its own on the layer's device, outside any TensorScope.
    private static Tensor Load(Tensor t, int[] shape, string name, Device device)
    {
        if (!t.ShapeArray.SequenceEqual(shape)) throw new ArgumentException($"{name} must be {Tensor.ShapeString(shape)}, got {Tensor.ShapeString(t.Shape)}");
        using (TensorScope.Suspend()) return t.To(DType.Float32).To(device).Clone();
    }

    // A state tensor on `device`: ones if never solved nor loaded (scales), zeros for the feedback; moved if the layer moved.
    private static Tensor OnDevice(ref Tensor? t, int[] shape, Device device)
    {
        using (TensorScope.Suspend())
        {
            t ??= shape.Length == 2 ? Tensor.Zeros(shape, DType.Float32, device) : Tensor.Full(shape, 1.0, DType.Float32, device);
            if (t.Device != device) t = t.To(device);
        }
        return t;
    }
}
