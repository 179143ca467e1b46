namespace BitDistill.Distill.Training;

/// <summary>One validation measurement: the metric's name, its value, and which direction is better (perplexity: lower;
/// accuracy: higher). The trainer keeps the checkpoint with the best value.</summary>
public sealed record ValidationResult(string Metric, double Value, bool HigherIsBetter)
{
    /// <summary>Whether this is better than <paramref name="other"/> (null: anything is better).</summary>
    public bool IsBetterThan(ValidationResult? other) => other is null || (HigherIsBetter ? Value > other.Value : Value < other.Value);
}
