using BitDistill.Tensors;

namespace BitDistill.Autograd;

/// <summary>A node of the graph: one application of a differentiable op. Subclasses hold what the backward needs and
/// define the backward right beside the forward. Subclass it (and call <see cref="Record"/>) to define a custom op
/// with its own backward, such as a straight-through estimator.</summary>
public abstract class Function
{
    /// <summary>The inputs the op was applied to (null entries: inputs that need no gradient).</summary>
    public Variable?[] Inputs { get; private set; } = [];
    /// <summary>Set once the graph was released after a backward pass.</summary>
    public bool Released { get; private set; }

    /// <summary>Op name (for errors and profiles).</summary>
    public virtual string Name => GetType().Name;

    /// <summary>Gradients with respect to each input (null where not needed), given the gradient of the output.
    /// <paramref name="needs"/>[i] says whether input i wants a gradient.</summary>
    protected internal abstract Tensor?[] Backward(Tensor gradOutput, bool[] needs);

    /// <summary>Drops saved tensors (called when the graph is released).</summary>
    protected virtual void ReleaseSaved() { }

    internal void Release()
    {
        if (Released) return;
        Released = true;
        ReleaseSaved();
    }

    /// <summary>Wraps an op's output: records the node when grad mode is on and any input requires grad.</summary>
    public static Variable Record(Function fn, Tensor output, params Variable?[] inputs)
    {
        if (OpProfiler.Enabled) OpProfiler.RecordForward(fn.Name + " " + Tensor.ShapeString(output.Shape));
        if (!GradMode.IsEnabled || !inputs.Any(v => v is not null && v.RequiresGrad)) return new Variable(output);
        fn.Inputs = inputs.Select(v => v is not null && v.RequiresGrad ? v : null).ToArray();
        return new Variable(output, fn);
    }

    /// <summary>True when an op should save tensors for backward (grad mode on and an input requires grad).</summary>
    public static bool Recording(params Variable?[] inputs) => GradMode.IsEnabled && inputs.Any(v => v is not null && v.RequiresGrad);
}
