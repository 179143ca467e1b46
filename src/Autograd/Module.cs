using BitDistill.Tensors;
using BitDistill.Tensors.SafeTensors;

namespace BitDistill.Autograd;

/// <summary>A trainable building block with named parameters and sub-modules; names join with dots
/// (model.layers.0.self_attn.q_proj.weight), as Hugging Face checkpoints name them.</summary>
public abstract class Module
{
    private readonly List<(string name, Variable p)> _params = new();
    private readonly List<(string name, Module m)> _children = new();
    private readonly List<(string name, Func<Tensor> get, Action<Tensor> set)> _buffers = new();

    /// <summary>Training mode (affects modules that behave differently at inference).</summary>
    public bool Training { get; private set; } = true;

    /// <summary>Registers a parameter (a leaf that requires grad) under a local name.</summary>
    protected Variable Parameter(string name, Tensor value)
    {
        var p = new Variable(value, requiresGrad: true, name: name);
        _params.Add((name, p));
        return p;
    }

    /// <summary>Registers a persistent non-trainable tensor saved in the state dict.</summary>
    protected void Buffer(string name, Func<Tensor> get, Action<Tensor> set) => _buffers.Add((name, get, set));

    /// <summary>Registers a child module under a local name.</summary>
    protected T Child<T>(string name, T module) where T : Module
    {
        _children.Add((name, module));
        return module;
    }

    /// <summary>Registers an extra child from outside, just before the child named <paramref name="before"/> (so parameter
    /// order stays that of a model built with it), for model transformations that add modules (e.g. SubLN). The module's
    /// own forward does not call it; the transformation wires it where it acts.</summary>
    public T InsertChild<T>(string name, T module, string before) where T : Module
    {
        if (_children.Any(c => c.name == name)) throw new ArgumentException($"{GetType().Name} already has a child named '{name}'");
        int i = _children.FindIndex(c => c.name == before);
        if (i < 0) throw new KeyNotFoundException($"no child module named '{before}' in {GetType().Name}");
        _children.Insert(i, (name, module));
        return module;
    }

    /// <summary>Replaces a registered child (used by model surgery such as Linear → BitLinear).</summary>
    public void ReplaceChild(string name, Module module)
    {
        int i = _children.FindIndex(c => c.name == name);
        if (i < 0) throw new KeyNotFoundException($"no child module named '{name}' in {GetType().Name}");
        _children[i] = (name, module);
        OnChildReplaced(name, module);
    }

    /// <summary>Lets a module update its typed field when <see cref="ReplaceChild"/> swaps a child.</summary>
    protected virtual void OnChildReplaced(string name, Module module) =>
        throw new NotSupportedException($"{GetType().Name} does not support replacing child '{name}'");

    /// <summary>Direct children with their local names.</summary>
    public IEnumerable<(string Name, Module Module)> Children() => _children.Select(c => (c.name, c.m));

    /// <summary>All parameters with full dotted names, depth first in registration order.</summary>
    public IEnumerable<(string Name, Variable Param)> NamedParameters(string prefix = "")
    {
        foreach (var (n, p) in _params) yield return (prefix + n, p);
        foreach (var (n, m) in _children)
            foreach (var x in m.NamedParameters(prefix + n + ".")) yield return x;
    }

    /// <summary>All buffers (persistent non-trainable tensors) with full dotted names.</summary>
    public IEnumerable<(string Name, Tensor Value)> NamedBuffers(string prefix = "")
    {
        foreach (var (n, get, _) in _buffers) yield return (prefix + n, get());
        foreach (var (n, m) in _children)
            foreach (var x in m.NamedBuffers(prefix + n + ".")) yield return x;
    }

    /// <summary>All parameters.</summary>
    public IEnumerable<Variable> Parameters() => NamedParameters().Select(x => x.Param).Distinct(ReferenceEqualityComparer.Instance).Cast<Variable>();

    /// <summary>All modules (this one first) with dotted names.</summary>
    public IEnumerable<(string Name, Module Module)> NamedModules(string prefix = "")
    {
        yield return (prefix.TrimEnd('.'), this);
        foreach (var (n, m) in _children)
            foreach (var x in m.NamedModules(prefix + n + ".")) yield return x;
    }

    /// <summary>Parameters and buffers by full name. Tied parameters appear under each name that owns them.</summary>
    public Dictionary<string, Tensor> StateDict(string prefix = "")
    {
        var d = new Dictionary<string, Tensor>();
        Collect(prefix, d);
        return d;
    }

    private void Collect(string prefix, Dictionary<string, Tensor> d)
    {
        foreach (var (n, p) in _params) d[prefix + n] = p.Value;
        foreach (var (n, get, _) in _buffers) d[prefix + n] = get();
        foreach (var (n, m) in _children) m.Collect(prefix + n + ".", d);
    }

    /// <summary>Copies values into parameters and buffers (converted to float32). With <paramref name="strict"/>, a missing or
    /// unexpected name is an error; a shape mismatch is always an error naming the tensor.</summary>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state, bool strict = true, string source = "state dict")
    {
        var seen = new HashSet<string>();
        var missing = new List<string>();
        Apply("", state, seen, missing, source);
        if (strict)
        {
            if (missing.Count > 0) throw new KeyNotFoundException($"{source}: missing tensor(s) {string.Join(", ", missing.Take(10))}{(missing.Count > 10 ? $" and {missing.Count - 10} more" : "")}");
            var unexpected = state.Keys.Where(k => !seen.Contains(k)).ToArray();
            if (unexpected.Length > 0) throw new ArgumentException($"{source}: unexpected tensor(s) {string.Join(", ", unexpected.Take(10))}");
        }
    }

    private void Apply(string prefix, IReadOnlyDictionary<string, Tensor> state, HashSet<string> seen, List<string> missing, string source)
    {
        foreach (var (n, p) in _params)
        {
            if (!state.TryGetValue(prefix + n, out var t)) { missing.Add(prefix + n); continue; }
            if (!t.Shape.SequenceEqual(p.Value.Shape))
                throw new ArgumentException($"{source}: tensor '{prefix + n}' has shape {Tensor.ShapeString(t.Shape)}, expected {Tensor.ShapeString(p.Value.Shape)}");
            p.Value.CopyFrom(t.To(p.Value.DType));
            p.MarkChanged();
            seen.Add(prefix + n);
        }
        foreach (var (n, get, set) in _buffers)
        {
            if (!state.TryGetValue(prefix + n, out var t)) { missing.Add(prefix + n); continue; }
            set(t); seen.Add(prefix + n);
        }
        foreach (var (n, m) in _children) m.Apply(prefix + n + ".", state, seen, missing, source);
    }

    /// <summary>Writes the state dict to a safetensors file (temporary name, then rename).</summary>
    public void Save(string path, IReadOnlyDictionary<string, string>? metadata = null) =>
        SafeTensorsWriter.Write(path, StateDict(), metadata);

    /// <summary>Loads a safetensors file written by <see cref="Save"/> (or any file with the same names).</summary>
    public void Load(string path, bool strict = true)
    {
        using var f = SafeTensorsFile.Open(path);
        LoadStateDict(f.Names.ToDictionary(n => n, n => f.Load(n)), strict, path);
    }

    /// <summary>Sets training or evaluation mode recursively.</summary>
    public void Train(bool on = true)
    {
        Training = on;
        foreach (var (_, m) in _children) m.Train(on);
    }

    /// <summary>Evaluation mode.</summary>
    public void Eval() => Train(false);

    /// <summary>Clears every parameter's gradient (zero-filled in place, or dropped with <paramref name="setToNone"/>).</summary>
    public void ZeroGrad(bool setToNone = false)
    {
        foreach (var p in Parameters())
            if (setToNone) p.Grad = null; else p.Grad?.Fill(0);
    }

    /// <summary>Number of scalar parameters (tied ones counted once).</summary>
    public long ParameterCount() => Parameters().Sum(p => (long)p.Count);
}
