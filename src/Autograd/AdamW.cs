using BitDistill.Tensors;

namespace BitDistill.Autograd;

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
