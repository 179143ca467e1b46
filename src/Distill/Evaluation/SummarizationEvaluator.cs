namespace BitDistill.Distill.Evaluation;

/// <summary>What the evaluate verb calls for a summarization task: generated summaries against reference summaries, ROUGE-1/2/L
/// as rouge-score and BLEU as sacreBLEU compute them by default.</summary>
public sealed class SummarizationEvaluator(BleuOptions? bleu = null)
{
    /// <summary>The BLEU settings (sacreBLEU's corpus_bleu defaults unless given).</summary>
    public BleuOptions Bleu { get; } = bleu ?? new BleuOptions();

    /// <summary>Mean ROUGE F-measures and corpus BLEU of <paramref name="predictions"/> against <paramref name="references"/>.</summary>
    public SummarizationReport Evaluate(IReadOnlyList<string> predictions, IReadOnlyList<string> references) =>
        SummarizationMetrics.Compute(predictions, references, Bleu);

    /// <summary>Per-example ROUGE, for listing the best and worst summaries.</summary>
    public IReadOnlyList<RougeScores> PerExample(IReadOnlyList<string> predictions, IReadOnlyList<string> references) =>
        SummarizationMetrics.RougePerExample(predictions, references);
}
