namespace BitDistill.Distill.Evaluation;

/// <summary>What the evaluate verb calls for a classification task: the task's labels fix the order of the report, and
/// predictions (label strings, or generated label words already mapped to labels) are scored against the references.</summary>
public sealed class ClassificationEvaluator
{
    /// <summary>An evaluator whose report lists <paramref name="labels"/> first, in this order (null: sorted labels seen);
    /// with <paramref name="trim"/>, leading and trailing white space of predictions and references is ignored.</summary>
    public ClassificationEvaluator(IEnumerable<string>? labels = null, bool trim = true)
    {
        Labels = labels?.ToArray();
        Trim = trim;
    }

    /// <summary>The task's labels in report order, if given.</summary>
    public IReadOnlyList<string>? Labels { get; }
    /// <summary>Whether white space around predictions and references is ignored.</summary>
    public bool Trim { get; }

    /// <summary>Accuracy, per-label and macro precision/recall/F1 and the confusion matrix.</summary>
    public ClassificationReport Evaluate(IReadOnlyList<string> predictions, IReadOnlyList<string> references)
    {
        ArgumentNullException.ThrowIfNull(predictions);
        ArgumentNullException.ThrowIfNull(references);
        if (!Trim) return ClassificationMetrics.Compute(predictions, references, Labels);
        return ClassificationMetrics.Compute(predictions.Select(p => p?.Trim()!).ToArray(), references.Select(r => r?.Trim()!).ToArray(), Labels?.Select(l => l.Trim()));
    }
}
