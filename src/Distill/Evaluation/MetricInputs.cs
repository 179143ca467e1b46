namespace BitDistill.Distill.Evaluation;

/// <summary>The check every metric makes of its inputs: predictions and references, non-null and pairwise.</summary>
internal static class MetricInputs
{
    public static void Check(IReadOnlyList<string> predictions, IReadOnlyList<string> references)
    {
        ArgumentNullException.ThrowIfNull(predictions);
        ArgumentNullException.ThrowIfNull(references);
        if (predictions.Count != references.Count)
            throw new ArgumentException($"{predictions.Count} predictions but {references.Count} references");
        for (int i = 0; i < predictions.Count; i++)
        {
            if (predictions[i] is null) throw new ArgumentException($"prediction {i} is null", nameof(predictions));
            if (references[i] is null) throw new ArgumentException($"reference {i} is null", nameof(references));
        }
    }
}
