using BitDistill.Tensors;

namespace BitDistill.Autograd;

/// <summary>Finite-difference gradient checker: compares the backward of f against central differences of
/// L = Σ f(x)·g (g a fixed random cotangent), with the sums taken in double.</summary>
public static class GradCheck
{
    /// <summary>Result for one input: max |analytic − numeric| / max(|numeric|max, floor).</summary>
    public readonly record struct InputError(int Input, double RelativeError, double MaxAbsNumeric);

    /// <summary>Checks every input flagged in <paramref name="differentiable"/> (all when null). Returns one error per checked input.</summary>
    public static IReadOnlyList<InputError> Check(Func<Variable[], Variable> f, Tensor[] inputs, bool[]? differentiable = null,
        double h = 1e-2, ulong seed = 17)
    {
        differentiable ??= inputs.Select(t => t.DType == DType.Float32).ToArray();
        var vars = inputs.Select((t, i) => new Variable(t.Clone(), requiresGrad: differentiable[i])).ToArray();
        var y = f(vars);
        var g = Tensor.Normal(y.Value.ShapeArray, new Generator(seed), 0, 1, y.Value.Device);
        y.Backward(g);
        var gv = g.ToArray<float>();

        double Loss()
        {
            Variable out_;
            using (GradMode.NoGrad()) out_ = f(vars.Select(v => new Variable(v.Value)).ToArray());
            var o = out_.Value.ToFloatArray();
            double s = 0;
            for (int i = 0; i < o.Length; i++) s += (double)o[i] * gv[i];
            return s;
        }

        var errors = new List<InputError>();
        for (int k = 0; k < vars.Length; k++)
        {
            if (!differentiable[k]) continue;
            var analytic = vars[k].Grad?.ToFloatArray() ?? new float[vars[k].Count];
            var x = vars[k].Value.ToArray<float>();
            var flat = vars[k].Value.Reshape(-1); // a view: the clone is contiguous
            var numeric = new double[x.Length];
            for (int i = 0; i < x.Length; i++)
            {
                float orig = x[i];
                float xp = (float)(orig + h), xm = (float)(orig - h);
                var element = flat.Narrow(0, i, 1);
                element.Fill(xp); double lp = Loss();
                element.Fill(xm); double lm = Loss();
                element.Fill(orig);
                numeric[i] = (lp - lm) / ((double)xp - xm);
            }
            double maxNum = numeric.Max(Math.Abs), maxDiff = 0;
            for (int i = 0; i < x.Length; i++) maxDiff = Math.Max(maxDiff, Math.Abs(analytic[i] - numeric[i]));
            errors.Add(new InputError(k, maxDiff / Math.Max(maxNum, 1e-3), maxNum));
        }
        return errors;
    }
}
