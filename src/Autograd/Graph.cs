using BitDistill.Tensors;

namespace BitDistill.Autograd;

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
                if (v.Creator is not { } fn) { BackwardHooks.LeafReady(v); continue; }
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
