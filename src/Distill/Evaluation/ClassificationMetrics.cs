namespace BitDistill.Distill.Evaluation;

/// <summary>Accuracy, per-label precision/recall/F1, macro averages and the confusion matrix of string labels, equal to
/// scikit-learn's accuracy_score, precision_recall_fscore_support(average=None/"macro", labels=order, zero_division=0) and
/// confusion_matrix(labels=order).</summary>
public static class ClassificationMetrics
{
    /// <summary>The label order: <paramref name="labels"/> as given (duplicates dropped), then any other label seen in the
    /// references or predictions, in ordinal order; without <paramref name="labels"/> that is the ordinal-sorted union, as
    /// scikit-learn's sorted unique labels. A prediction outside the known labels (such as generated text that is no label
    /// word) therefore gets a row and column of its own and counts against macro-F1.</summary>
    public static IReadOnlyList<string> LabelOrder(IReadOnlyList<string> predictions, IReadOnlyList<string> references, IEnumerable<string>? labels = null)
    {
        var order = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        if (labels is not null)
            foreach (var l in labels)
                if (seen.Add(l ?? throw new ArgumentException("a label is null", nameof(labels)))) order.Add(l);
        var extra = references.Concat(predictions).Where(x => !seen.Contains(x)).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal);
        order.AddRange(extra);
        return order;
    }

    /// <summary>The metrics of <paramref name="predictions"/> against <paramref name="references"/> (same length, compared
    /// ordinally) in the order <see cref="LabelOrder"/> gives.</summary>
    public static ClassificationReport Compute(IReadOnlyList<string> predictions, IReadOnlyList<string> references, IEnumerable<string>? labels = null)
    {
        MetricInputs.Check(predictions, references);
        var order = LabelOrder(predictions, references, labels);
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < order.Count; i++) index[order[i]] = i;
        int k = order.Count;
        var matrix = new int[k][];
        for (int i = 0; i < k; i++) matrix[i] = new int[k];
        int correct = 0;
        for (int i = 0; i < predictions.Count; i++)
        {
            matrix[index[references[i]]][index[predictions[i]]]++;
            if (string.Equals(predictions[i], references[i], StringComparison.Ordinal)) correct++;
        }
        var perClass = new ClassMetrics[k];
        for (int c = 0; c < k; c++)
        {
            int tp = matrix[c][c], support = matrix[c].Sum(), predicted = 0;
            for (int r = 0; r < k; r++) predicted += matrix[r][c];
            double p = predicted == 0 ? 0 : tp / (double)predicted;
            double rec = support == 0 ? 0 : tp / (double)support;
            perClass[c] = new ClassMetrics { Label = order[c], Precision = p, Recall = rec, F1 = p + rec > 0 ? 2 * p * rec / (p + rec) : 0, Support = support, Predicted = predicted };
        }
        return new ClassificationReport
        {
            Count = predictions.Count,
            Accuracy = predictions.Count == 0 ? 0 : correct / (double)predictions.Count,
            MacroF1 = k == 0 ? 0 : perClass.Average(m => m.F1),
            MacroPrecision = k == 0 ? 0 : perClass.Average(m => m.Precision),
            MacroRecall = k == 0 ? 0 : perClass.Average(m => m.Recall),
            Labels = order,
            PerClass = perClass,
            ConfusionMatrix = matrix,
        };
    }
}
