namespace BitDistill.Distill.Evaluation;

/// <summary>The unigram language model baseline: token frequencies from training data with add-one smoothing.</summary>
public static class UnigramBaseline
{
    /// <summary>Perplexity on <paramref name="eval"/> of the add-one-smoothed unigram model of <paramref name="train"/>
    /// over a vocabulary of <paramref name="vocabSize"/>, counting the same predicted positions as the LM evaluation (all but the first token).</summary>
    public static double Perplexity(int[] train, int[] eval, int vocabSize)
    {
        var counts = new long[vocabSize];
        foreach (var t in train) counts[t]++;
        double total = train.Length + vocabSize, nll = 0;
        for (int i = 1; i < eval.Length; i++) nll -= Math.Log((counts[eval[i]] + 1) / total);
        return Math.Exp(nll / Math.Max(1, eval.Length - 1));
    }
}
