using System.Text.Json.Serialization;

namespace BitDistill.Distill.Evaluation;

/// <summary>Summarization metrics of predictions against references: ROUGE-1/2/L F-measures (rouge-score's defaults, [0, 1],
/// the mean over examples) and sacreBLEU corpus BLEU (0–100).</summary>
public sealed record SummarizationReport
{
    /// <summary>Number of examples.</summary>
    [JsonPropertyName("count")] public required int Count { get; init; }
    /// <summary>Mean ROUGE-1 F-measure.</summary>
    [JsonPropertyName("rouge1")] public required double Rouge1 { get; init; }
    /// <summary>Mean ROUGE-2 F-measure.</summary>
    [JsonPropertyName("rouge2")] public required double Rouge2 { get; init; }
    /// <summary>Mean ROUGE-L (sentence-level LCS) F-measure.</summary>
    [JsonPropertyName("rougeL")] public required double RougeL { get; init; }
    /// <summary>Corpus BLEU, 0–100.</summary>
    [JsonPropertyName("bleu")] public required double Bleu { get; init; }
    /// <summary>Mean precision, recall and F-measure of each ROUGE type (each averaged separately over examples).</summary>
    [JsonPropertyName("rouge_detail")] public required RougeScores RougeDetail { get; init; }
    /// <summary>BLEU's statistics (n-gram counts, precisions, brevity penalty, lengths).</summary>
    [JsonPropertyName("bleu_detail")] public required BleuScore BleuDetail { get; init; }
}
