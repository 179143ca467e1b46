using BitDistill.Autograd;
using BitDistill.Distill.Data;
using BitDistill.Distill.Objectives;
using BitDistill.Models;
using BitDistill.Tensors;

namespace BitDistill.Distill.Evaluation;

/// <summary>Held-out perplexity of a causal LM: exp of the mean next-token cross-entropy over the windows of a
/// <see cref="PerplexityProtocol"/>.</summary>
public static class Perplexity
{
    /// <summary>exp(mean next-token cross-entropy) over the protocol's windows of <paramref name="data"/>.</summary>
    public static double Compute(CausalLanguageModel model, TokenDataset data, PerplexityProtocol protocol)
    {
        model.Eval();
        double nll = 0; long n = 0;
        using (GradMode.NoGrad())
            foreach (var (x, y) in data.Windows(protocol.Batch, protocol.SeqLen, protocol.Windows(data)))
            {
                using var scope = TensorScope.Begin();
                var l = CausalLmObjective.TokenLoss(model, x, y);
                nll += (double)l.Item() * y.Count; n += y.Count;
            }
        return Math.Exp(nll / n);
    }
}
