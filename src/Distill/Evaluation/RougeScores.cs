using System.Text.Json.Serialization;

namespace BitDistill.Distill.Evaluation;

/// <summary>ROUGE-1, ROUGE-2 and ROUGE-L (sentence-level LCS) of one prediction against one reference.</summary>
public sealed record RougeScores(
    [property: JsonPropertyName("rouge1")] RougeScore Rouge1,
    [property: JsonPropertyName("rouge2")] RougeScore Rouge2,
    [property: JsonPropertyName("rougeL")] RougeScore RougeL);
