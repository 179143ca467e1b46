using BitDistill.Autograd;
using BitDistill.Distill.Data;
using BitDistill.Distill.Objectives;
using BitDistill.Models;
using BitDistill.Tensors;

namespace BitDistill.Distill.Evaluation;

/// <summary>Held-out perplexity of a causal LM: exp of the mean next-token cross-entropy over consecutive windows.</summary>
public static class Perplexity
{
    /// <summary>exp(mean next-token cross-entropy) over up to <paramref name="maxWindows"/> consecutive windows.</summary>
    public static double Compute(CausalLanguageModel model, TokenDataset data, int seqLen, int maxWindows = int.MaxValue, int batch = 8)
    {
        model.Eval();
        double nll = 0; long n = 0;
        using (GradMode.NoGrad())
            foreach (var (x, y) in data.Windows(batch, seqLen, maxWindows))
            {
                using var scope = TensorScope.Begin();
                var l = CausalLmObjective.TokenLoss(model, x, y);
                nll += l.Item() * y.Count; n += y.Count;
            }
        return Math.Exp(nll / n);
    }
}
