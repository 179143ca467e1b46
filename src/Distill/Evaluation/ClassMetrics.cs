using System.Text.Json.Serialization;

namespace BitDistill.Distill.Evaluation;

/// <summary>Precision, recall and F1 of one label (0 where a ratio would be 0/0, as scikit-learn with zero_division=0).</summary>
public sealed record ClassMetrics
{
    /// <summary>The label.</summary>
    [JsonPropertyName("label")] public required string Label { get; init; }
    /// <summary>Correct predictions of this label over all predictions of it.</summary>
    [JsonPropertyName("precision")] public required double Precision { get; init; }
    /// <summary>Correct predictions of this label over all references with it.</summary>
    [JsonPropertyName("recall")] public required double Recall { get; init; }
    /// <summary>2PR/(P+R).</summary>
    [JsonPropertyName("f1")] public required double F1 { get; init; }
    /// <summary>References with this label.</summary>
    [JsonPropertyName("support")] public required int Support { get; init; }
    /// <summary>Predictions of this label.</summary>
    [JsonPropertyName("predicted")] public required int Predicted { get; init; }
}
