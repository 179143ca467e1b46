using BitDistill.Tensors;

namespace BitDistill.Autograd;

/// <summary>Marks a <see cref="Function"/> subclass as a registered differentiable op (the registry the gradient-check test walks).</summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class OpAttribute(params string[] names) : Attribute
{
    /// <summary>The registry names of the ops this class implements.</summary>
    public string[] Names { get; } = names;
}

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

/// <summary>Reverse-mode traversal.</summary>
internal static class Graph
{
    public static void Backward(Variable root, Tensor seed, bool retainGraph)
    {
        // topological order by iterative DFS
        var order = new List<Variable>();
        var visited = new HashSet<Variable>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<(Variable v, bool expanded)>();
        stack.Push((root, false));
        while (stack.Count > 0)
        {
            var (v, expanded) = stack.Pop();
            if (expanded) { order.Add(v); continue; }
            if (!visited.Add(v)) continue;
            stack.Push((v, true));
            if (v.Creator is { } fn)
            {
                if (fn.Released) throw new InvalidOperationException($"backward through a graph that was already released (op {fn.Name}); pass retainGraph: true to the first backward to go through it twice");
                foreach (var inp in fn.Inputs) if (inp is not null && !visited.Contains(inp)) stack.Push((inp, false));
            }
        }
        var grads = new Dictionary<Variable, Tensor>(ReferenceEqualityComparer.Instance) { [root] = seed };
        using (GradMode.NoGrad())
        {
            for (int i = order.Count - 1; i >= 0; i--)
            {
                var v = order[i];
                if (!grads.TryGetValue(v, out var g)) continue;
                if (v.Creator is null || v.RetainsGrad) Accumulate(v, g);
                if (v.Creator is not { } fn) continue;
                grads.Remove(v);
                var needs = fn.Inputs.Select(x => x is not null).ToArray();
                long t0 = OpProfiler.Enabled ? System.Diagnostics.Stopwatch.GetTimestamp() : 0;
                var gin = fn.Backward(g, needs);
                if (OpProfiler.Enabled) OpProfiler.RecordBackward(fn.Name + " " + Tensor.ShapeString(g.Shape), t0);
                for (int k = 0; k < fn.Inputs.Length; k++)
                {
                    var x = fn.Inputs[k];
                    if (x is null || gin[k] is not { } gk) continue;
                    if (!gk.Shape.SequenceEqual(x.Shape))
                        throw new InvalidOperationException($"op {fn.Name} returned a gradient of shape {Tensor.ShapeString(gk.Shape)} for input {k} of shape {Tensor.ShapeString(x.Shape)}");
                    if (grads.TryGetValue(x, out var prev))
                    {
                        long t1 = OpProfiler.Enabled ? System.Diagnostics.Stopwatch.GetTimestamp() : 0;
                        grads[x] = prev + gk;
                        if (OpProfiler.Enabled) OpProfiler.RecordBackward("(grad accumulate)", t1);
                    }
                    else grads[x] = gk;
                }
            }
        }
        if (!retainGraph)
            foreach (var v in order) v.Creator?.Release();
    }

    private static void Accumulate(Variable v, Tensor g)
    {
        if (v.Grad is null)
        {
            using (TensorScope.Suspend()) v.Grad = g.Clone();
        }
        else v.Grad.AddInPlace(g);
    }
}
