using BitDistill.Distill.Data;

namespace BitDistill.Distill.Evaluation;

/// <summary>The unigram language model baseline: token frequencies from training data with add-one smoothing.</summary>
public static class UnigramBaseline
{
    /// <summary>Perplexity of the add-one-smoothed unigram model of <paramref name="train"/> (over a vocabulary of
    /// <paramref name="vocabSize"/>) on exactly the tokens <paramref name="protocol"/> scores for a model on <paramref name="eval"/>.</summary>
    public static double Perplexity(int[] train, TokenDataset eval, int vocabSize, PerplexityProtocol protocol)
    {
        var counts = new long[vocabSize];
        foreach (var t in train) counts[t]++;
        double total = train.Length + vocabSize, nll = 0;
        var scored = protocol.ScoredTokens(eval);
        foreach (var t in scored) nll -= Math.Log((counts[t] + 1) / total);
        return Math.Exp(nll / scored.Length);
    }
}
