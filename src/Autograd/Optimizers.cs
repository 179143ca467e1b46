using BitDistill.Tensors;
using BitDistill.Tensors.SafeTensors;

namespace BitDistill.Autograd;

/// <summary>A set of parameters sharing hyper-parameters (null = the optimizer's default).</summary>
public sealed record ParamGroup(IReadOnlyList<Variable> Params, float? WeightDecay = null, float? LrScale = null);

/// <summary>Base of the optimizers: parameter groups, learning rate, step count, zero-grad, and state save/load for resuming.</summary>
public abstract class Optimizer
{
    protected Optimizer(IEnumerable<ParamGroup> groups, float lr)
    {
        Groups = groups.ToArray();
        Lr = lr;
        var all = Groups.SelectMany(g => g.Params).ToArray();
        if (all.Distinct(ReferenceEqualityComparer.Instance).Count() != all.Length) throw new ArgumentException("a parameter appears in more than one group");
    }

    /// <summary>The parameter groups.</summary>
    public IReadOnlyList<ParamGroup> Groups { get; }
    /// <summary>Current learning rate (set by a schedule before each step).</summary>
    public float Lr { get; set; }
    /// <summary>Number of steps taken.</summary>
    public long StepCount { get; protected set; }

    /// <summary>All parameters.</summary>
    public IEnumerable<Variable> Params => Groups.SelectMany(g => g.Params);

    /// <summary>Applies one update from the accumulated gradients (parameters without a gradient are skipped).</summary>
    public abstract void Step();

    /// <summary>Clears gradients. By default the buffers are kept and zero-filled, so steady-state training reuses them;
    /// <paramref name="setToNone"/> drops them instead.</summary>
    public void ZeroGrad(bool setToNone = false)
    {
        foreach (var p in Params)
            if (setToNone) p.Grad = null; else p.Grad?.Fill(0);
    }

    /// <summary>Named state tensors (by parameter index) for checkpoints.</summary>
    protected abstract IEnumerable<(string name, Tensor value)> State();
    /// <summary>Restores state tensors written by <see cref="State"/>.</summary>
    protected abstract void RestoreState(IReadOnlyDictionary<string, Tensor> state, string source);

    /// <summary>Saves the optimizer state (moments, step count, lr) to a safetensors file, atomically.</summary>
    public void Save(string path) => SafeTensorsWriter.Write(path, State().Select(s => KeyValuePair.Create(s.name, s.value)),
        new Dictionary<string, string> { ["step"] = StepCount.ToString(System.Globalization.CultureInfo.InvariantCulture), ["lr"] = Lr.ToString("R", System.Globalization.CultureInfo.InvariantCulture), ["type"] = GetType().Name });

    /// <summary>Loads state saved by <see cref="Save"/> for the same parameter list.</summary>
    public void Load(string path)
    {
        using var f = SafeTensorsFile.Open(path);
        if (f.Metadata.TryGetValue("type", out var t) && t != GetType().Name) throw new InvalidDataException($"{path}: optimizer state of type {t}, expected {GetType().Name}");
        StepCount = long.Parse(f.Metadata.GetValueOrDefault("step") ?? throw new InvalidDataException($"{path}: metadata field 'step' missing"), System.Globalization.CultureInfo.InvariantCulture);
        RestoreState(f.Names.ToDictionary(n => n, n => f.Load(n)), path);
    }

    /// <summary>Scales all gradients so their global L2 norm is at most maxNorm (as torch.nn.utils.clip_grad_norm_).
    /// Returns the norm before clipping.</summary>
    public static double ClipGradNorm(IEnumerable<Variable> parameters, double maxNorm)
    {
        var ps = parameters.Where(p => p.Grad is not null).ToArray();
        double total = 0;
        foreach (var p in ps) total += p.Grad!.Backend.SumOfSquares(p.Grad);
        total = Math.Sqrt(total);
        double coef = maxNorm / (total + 1e-6);
        if (coef < 1)
            foreach (var p in ps)
            {
                if (!p.Grad!.IsContiguous) p.Grad = p.Grad.Contiguous();
                p.Grad.Backend.ScaleInPlace(p.Grad, (float)coef);
            }
        return total;
    }
}

/// <summary>AdamW with decoupled weight decay and bias correction, exactly as torch.optim.AdamW:
/// p ← p·(1 − lr·wd); m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²; p ← p − lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + ε).</summary>
public sealed class AdamW : Optimizer
{
    private readonly Dictionary<Variable, (Tensor m, Tensor v)> _state = new(ReferenceEqualityComparer.Instance);

    public AdamW(IEnumerable<ParamGroup> groups, float lr = 1e-3f, float beta1 = 0.9f, float beta2 = 0.999f, float eps = 1e-8f, float weightDecay = 0.01f)
        : base(groups, lr) { Beta1 = beta1; Beta2 = beta2; Eps = eps; WeightDecay = weightDecay; }

    /// <summary>One group with every parameter.</summary>
    public AdamW(IEnumerable<Variable> parameters, float lr = 1e-3f, float beta1 = 0.9f, float beta2 = 0.999f, float eps = 1e-8f, float weightDecay = 0.01f)
        : this([new ParamGroup(parameters.ToArray())], lr, beta1, beta2, eps, weightDecay) { }

    public float Beta1 { get; }
    public float Beta2 { get; }
    public float Eps { get; }
    public float WeightDecay { get; }

    public override void Step()
    {
        StepCount++;
        double bc1 = 1 - Math.Pow(Beta1, StepCount), bc2 = 1 - Math.Pow(Beta2, StepCount);
        foreach (var g in Groups)
        {
            float lr = Lr * (g.LrScale ?? 1f), wd = g.WeightDecay ?? WeightDecay;
            foreach (var p in g.Params)
            {
                if (p.Grad is null) continue;
                if (!_state.TryGetValue(p, out var st))
                    using (TensorScope.Suspend())
                        _state[p] = st = (Tensor.Zeros(p.Value.ShapeArray, DType.Float32, p.Value.Device), Tensor.Zeros(p.Value.ShapeArray, DType.Float32, p.Value.Device));
                p.Value.Backend.AdamWUpdate(p.Value, p.Grad, st.m, st.v, new AdamWStep(lr, Beta1, Beta2, Eps, wd, (float)bc1, (float)Math.Sqrt(bc2)));
                p.MarkChanged();
            }
        }
    }

    protected override IEnumerable<(string, Tensor)> State()
    {
        int i = 0;
        foreach (var p in Params)
        {
            if (_state.TryGetValue(p, out var st)) { yield return ($"{i}.exp_avg", st.m); yield return ($"{i}.exp_avg_sq", st.v); }
            i++;
        }
    }

    protected override void RestoreState(IReadOnlyDictionary<string, Tensor> state, string source)
    {
        _state.Clear();
        int i = 0;
        foreach (var p in Params)
        {
            if (state.TryGetValue($"{i}.exp_avg", out var m) && state.TryGetValue($"{i}.exp_avg_sq", out var v))
            {
                if (!m.Shape.SequenceEqual(p.Value.Shape)) throw new InvalidDataException($"{source}: '{i}.exp_avg' has shape {Tensor.ShapeString(m.Shape)}, parameter {p.Name ?? i.ToString(System.Globalization.CultureInfo.InvariantCulture)} is {Tensor.ShapeString(p.Value.Shape)}");
                _state[p] = (m.Contiguous().Clone(), v.Contiguous().Clone());
            }
            i++;
        }
    }
}

/// <summary>SGD with momentum (and optional Nesterov), weight decay added to the gradient, as torch.optim.SGD.</summary>
public sealed class Sgd : Optimizer
{
    private readonly Dictionary<Variable, Tensor> _buf = new(ReferenceEqualityComparer.Instance);

    public Sgd(IEnumerable<Variable> parameters, float lr, float momentum = 0, float weightDecay = 0, bool nesterov = false)
        : base([new ParamGroup(parameters.ToArray())], lr) { Momentum = momentum; WeightDecay = weightDecay; Nesterov = nesterov; }

    public float Momentum { get; }
    public float WeightDecay { get; }
    public bool Nesterov { get; }

    public override void Step()
    {
        StepCount++;
        foreach (var p in Params)
        {
            if (p.Grad is null) continue;
            Tensor? b = null;
            bool fresh = false;
            if (Momentum != 0)
            {
                fresh = !_buf.TryGetValue(p, out b);
                if (fresh) using (TensorScope.Suspend()) _buf[p] = b = Tensor.Zeros(p.Value.ShapeArray, DType.Float32, p.Value.Device);
            }
            p.Value.Backend.SgdUpdate(p.Value, p.Grad, b, new SgdStep(Lr, Momentum, WeightDecay, Nesterov), fresh);
            p.MarkChanged();
        }
    }

    protected override IEnumerable<(string, Tensor)> State()
    {
        int i = 0;
        foreach (var p in Params) { if (_buf.TryGetValue(p, out var b)) yield return ($"{i}.momentum_buffer", b); i++; }
    }

    protected override void RestoreState(IReadOnlyDictionary<string, Tensor> state, string source)
    {
        _buf.Clear();
        int i = 0;
        foreach (var p in Params) { if (state.TryGetValue($"{i}.momentum_buffer", out var b)) _buf[p] = b.Contiguous().Clone(); i++; }
    }
}

/// <summary>Learning-rate schedules as multipliers of the base rate at a 0-based step (LambdaLR semantics: step s is the
/// s-th update).</summary>
public abstract record LrSchedule
{
    /// <summary>Multiplier at step s.</summary>
    public abstract double Factor(long step);

    /// <summary>Constant rate.</summary>
    public sealed record Constant : LrSchedule { public override double Factor(long step) => 1; }

    /// <summary>Linear warm-up for <paramref name="Warmup"/> steps, then cosine decay to <paramref name="MinRatio"/> at
    /// <paramref name="Total"/> (Hugging Face get_cosine_schedule_with_warmup when MinRatio = 0).</summary>
    public sealed record WarmupCosine(long Warmup, long Total, double MinRatio = 0) : LrSchedule
    {
        public override double Factor(long s)
        {
            if (s < Warmup) return (double)s / Math.Max(1, Warmup);
            double progress = (double)(s - Warmup) / Math.Max(1, Total - Warmup);
            return Math.Max(0, MinRatio + (1 - MinRatio) * 0.5 * (1 + Math.Cos(Math.PI * Math.Min(1, progress))));
        }
    }

    /// <summary>Linear warm-up then linear decay to 0 at Total (get_linear_schedule_with_warmup).</summary>
    public sealed record WarmupLinear(long Warmup, long Total) : LrSchedule
    {
        public override double Factor(long s) => s < Warmup ? (double)s / Math.Max(1, Warmup) : Math.Max(0, (double)(Total - s) / Math.Max(1, Total - Warmup));
    }
}
