using BitDistill.Tensors;
using BitDistill.Tensors.SafeTensors;

namespace BitDistill.Autograd;

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
