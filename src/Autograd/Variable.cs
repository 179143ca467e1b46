using BitDistill.Tensors;

namespace BitDistill.Autograd;

/// <summary>A differentiable value: a tensor, its gradient, and the function that produced it (null for leaves).</summary>
public sealed partial class Variable
{
    /// <summary>Wraps a tensor; <paramref name="requiresGrad"/> makes it a leaf whose gradient is accumulated.</summary>
    public Variable(Tensor value, bool requiresGrad = false, string? name = null)
    {
        Value = value;
        RequiresGrad = requiresGrad;
        Name = name;
    }

    internal Variable(Tensor value, Function creator) : this(value)
    {
        Creator = creator;
        RequiresGrad = true;
    }

    /// <summary>The forward value (updated in place by optimizers for leaves).</summary>
    public Tensor Value { get => _value; set { _value = value; Version++; } }
    private Tensor _value = null!;

    /// <summary>Incremented whenever the value changes (assignment, optimizer step, state-dict load); layers that cache
    /// something derived from a parameter (BitLinear's packed ternary weights) compare it to refresh lazily.</summary>
    public long Version { get; private set; }

    /// <summary>Records an in-place change of <see cref="Value"/>.</summary>
    public void MarkChanged() => Version++;
    /// <summary>Accumulated gradient (leaves, or any variable after <see cref="RetainGrad"/>).</summary>
    public Tensor? Grad { get; set; }
    /// <summary>Whether gradients flow to this variable.</summary>
    public bool RequiresGrad { get; set; }
    /// <summary>Optional name (parameters use hierarchical names such as model.layers.0.mlp.up_proj.weight).</summary>
    public string? Name { get; set; }
    /// <summary>The function that produced this value; null for leaves and detached values.</summary>
    public Function? Creator { get; internal set; }
    /// <summary>True for variables created by the user (not by an op).</summary>
    public bool IsLeaf => Creator is null;
    internal bool RetainsGrad { get; private set; }

    /// <summary>Keep the gradient of a non-leaf variable after backward.</summary>
    public Variable RetainGrad() { RetainsGrad = true; return this; }

    public ReadOnlySpan<int> Shape => Value.Shape;
    public int Rank => Value.Rank;
    public int Size(int d) => Value.Size(d);
    public int Count => Value.Count;

    /// <summary>The same value, cut from the graph.</summary>
    public Variable Detach() => new(Value);

    /// <summary>The single value of a one-element variable.</summary>
    public float Item() => Value.Item();

    public static implicit operator Variable(Tensor t) => new(t);

    public override string ToString() => $"Variable({Name ?? ""} {Value})";

    /// <summary>Runs reverse-mode differentiation from this variable. A non-scalar needs a seed gradient of its shape.
    /// Unless <paramref name="retainGraph"/>, the graph's saved tensors are released afterwards.</summary>
    public void Backward(Tensor? seed = null, bool retainGraph = false)
    {
        if (!RequiresGrad) throw new InvalidOperationException("backward on a variable that does not require grad (was it computed under NoGrad, or from detached inputs?)");
        if (seed is null)
        {
            if (Count != 1) throw new InvalidOperationException($"backward on a non-scalar of shape {Tensor.ShapeString(Shape)} needs a seed gradient of the same shape");
            seed = Tensor.Full(Value.ShapeArray, 1.0, DType.Float32, Value.Device);
        }
        else if (!seed.Shape.SequenceEqual(Shape))
            throw new ArgumentException($"seed gradient shape {Tensor.ShapeString(seed.Shape)} does not match {Tensor.ShapeString(Shape)}");
        Graph.Backward(this, seed, retainGraph);
    }
}
