using System.Text.Json.Serialization;

namespace BitDistill.Distill.Evaluation;

/// <summary>A corpus BLEU score on 0–100 with its sufficient statistics, as sacreBLEU's BLEUScore reports them.</summary>
public sealed record BleuScore
{
    /// <summary>BLEU, 0–100.</summary>
    [JsonPropertyName("score")] public required double Score { get; init; }
    /// <summary>Matched n-grams per order (after add-k smoothing, if any).</summary>
    [JsonPropertyName("counts")] public required IReadOnlyList<double> Counts { get; init; }
    /// <summary>Hypothesis n-grams per order (after add-k smoothing, if any).</summary>
    [JsonPropertyName("totals")] public required IReadOnlyList<double> Totals { get; init; }
    /// <summary>Smoothed n-gram precisions per order, 0–100.</summary>
    [JsonPropertyName("precisions")] public required IReadOnlyList<double> Precisions { get; init; }
    /// <summary>The brevity penalty exp(1 − ref_len / sys_len) when the hypotheses are shorter, else 1.</summary>
    [JsonPropertyName("brevity_penalty")] public required double BrevityPenalty { get; init; }
    /// <summary>Hypothesis tokens in all.</summary>
    [JsonPropertyName("sys_len")] public required int SysLen { get; init; }
    /// <summary>Reference tokens in all (per segment the reference length closest to the hypothesis; ties: the shorter).</summary>
    [JsonPropertyName("ref_len")] public required int RefLen { get; init; }
}
