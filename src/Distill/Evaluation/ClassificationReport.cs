using System.Text.Json.Serialization;

namespace BitDistill.Distill.Evaluation;

/// <summary>Classification metrics of predictions against references: accuracy, per-label precision/recall/F1, their macro
/// averages and the confusion matrix, with labels in one stable order (see <see cref="ClassificationMetrics.Compute"/>).</summary>
public sealed record ClassificationReport
{
    /// <summary>Number of examples.</summary>
    [JsonPropertyName("count")] public required int Count { get; init; }
    /// <summary>Fraction of predictions equal to their reference (0 for no examples).</summary>
    [JsonPropertyName("accuracy")] public required double Accuracy { get; init; }
    /// <summary>Unweighted mean of the per-label F1 over <see cref="Labels"/>.</summary>
    [JsonPropertyName("macro_f1")] public required double MacroF1 { get; init; }
    /// <summary>Unweighted mean of the per-label precision.</summary>
    [JsonPropertyName("macro_precision")] public required double MacroPrecision { get; init; }
    /// <summary>Unweighted mean of the per-label recall.</summary>
    [JsonPropertyName("macro_recall")] public required double MacroRecall { get; init; }
    /// <summary>The label order of <see cref="PerClass"/> and of both axes of <see cref="ConfusionMatrix"/>.</summary>
    [JsonPropertyName("labels")] public required IReadOnlyList<string> Labels { get; init; }
    /// <summary>Per-label metrics, in <see cref="Labels"/> order.</summary>
    [JsonPropertyName("per_class")] public required IReadOnlyList<ClassMetrics> PerClass { get; init; }
    /// <summary>Counts [reference label, predicted label] in <see cref="Labels"/> order (rows: truth, columns: prediction, as
    /// scikit-learn's confusion_matrix).</summary>
    [JsonPropertyName("confusion_matrix")] public required IReadOnlyList<IReadOnlyList<int>> ConfusionMatrix { get; init; }
}
