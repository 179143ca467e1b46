using BitDistill.Distill.Training;

namespace BitDistill.Distill.Evaluation;

/// <summary>A model's result on a task's rows: the classification or summarization report, and each row's prediction and
/// reference (label strings, or generated and reference summaries).</summary>
public sealed record TaskEvaluation(ClassificationReport? Classification, SummarizationReport? Summarization,
    IReadOnlyList<string> Predictions, IReadOnlyList<string> References)
{
    /// <summary>The metric training selects on: accuracy for classification, ROUGE-L F for summarization.</summary>
    public ValidationResult AsValidation() => Classification is { } c
        ? new ValidationResult("accuracy", c.Accuracy, HigherIsBetter: true)
        : new ValidationResult("rougeL", Summarization!.RougeL, HigherIsBetter: true);
}
