namespace BitDistill.Distill.Evaluation;

/// <summary>ROUGE-1/2/L and BLEU of generated summaries against references. The corpus ROUGE is the arithmetic mean of the
/// per-example scores: what rouge-score's BootstrapAggregator reports as "mid" estimates by resampling (and what Hugging Face
/// evaluate returns with use_aggregator=False, averaged), computed here exactly and deterministically.</summary>
public static class SummarizationMetrics
{
    /// <summary>Per-example ROUGE of <paramref name="predictions"/> against <paramref name="references"/> (same length).</summary>
    public static IReadOnlyList<RougeScores> RougePerExample(IReadOnlyList<string> predictions, IReadOnlyList<string> references)
    {
        MetricInputs.Check(predictions, references);
        var scores = new RougeScores[predictions.Count];
        for (int i = 0; i < scores.Length; i++) scores[i] = Rouge.Score(references[i], predictions[i]);
        return scores;
    }

    /// <summary>The mean of each of precision, recall and F-measure per ROUGE type (all zero for no examples).</summary>
    public static RougeScores Mean(IReadOnlyList<RougeScores> scores)
    {
        ArgumentNullException.ThrowIfNull(scores);
        RougeScore MeanOf(Func<RougeScores, RougeScore> pick) => scores.Count == 0 ? RougeScore.Zero
            : new RougeScore(scores.Average(s => pick(s).Precision), scores.Average(s => pick(s).Recall), scores.Average(s => pick(s).FMeasure));
        return new RougeScores(MeanOf(s => s.Rouge1), MeanOf(s => s.Rouge2), MeanOf(s => s.RougeL));
    }

    /// <summary>Mean ROUGE and corpus BLEU (<paramref name="bleu"/>: sacreBLEU's defaults unless given).</summary>
    public static SummarizationReport Compute(IReadOnlyList<string> predictions, IReadOnlyList<string> references, BleuOptions? bleu = null)
    {
        var mean = Mean(RougePerExample(predictions, references));
        var b = Bleu.CorpusScore(predictions, references, bleu);
        return new SummarizationReport
        {
            Count = predictions.Count,
            Rouge1 = mean.Rouge1.FMeasure,
            Rouge2 = mean.Rouge2.FMeasure,
            RougeL = mean.RougeL.FMeasure,
            Bleu = b.Score,
            RougeDetail = mean,
            BleuDetail = b,
        };
    }

}
