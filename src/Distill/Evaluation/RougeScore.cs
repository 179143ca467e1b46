using System.Text.Json.Serialization;

namespace BitDistill.Distill.Evaluation;

/// <summary>Precision, recall and F-measure of one ROUGE type for one prediction against one reference (each in [0, 1]).</summary>
public sealed record RougeScore(
    [property: JsonPropertyName("precision")] double Precision,
    [property: JsonPropertyName("recall")] double Recall,
    [property: JsonPropertyName("fmeasure")] double FMeasure)
{
    /// <summary>All three zero (what rouge-score returns when either side has no tokens).</summary>
    public static RougeScore Zero { get; } = new(0, 0, 0);

    /// <summary>The score of <paramref name="matches"/> common units out of <paramref name="predicted"/> in the prediction and
    /// <paramref name="referenced"/> in the reference, with rouge-score's guards: a zero count divides as by one, and the
    /// F-measure 2PR/(P+R) is 0 when P + R is 0.</summary>
    public static RougeScore FromCounts(int matches, int predicted, int referenced)
    {
        double p = matches / (double)Math.Max(predicted, 1), r = matches / (double)Math.Max(referenced, 1);
        return new RougeScore(p, r, p + r > 0 ? 2 * p * r / (p + r) : 0);
    }
}
