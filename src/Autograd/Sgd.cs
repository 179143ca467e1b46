using BitDistill.Tensors;

namespace BitDistill.Autograd;

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
