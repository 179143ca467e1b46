using BitDistill.Distill.Evaluation;

namespace BitDistill.Distill.Comparison;

/// <summary>One method trained with one seed: the learning rate the sweep chose, the test evaluation, the deployed weight
/// bytes (ternary projections packed at 2 bits, the rest at 16 bits) and the FP16 bytes of the same model, the training
/// time, the measured greedy decode speed, the validation metric the run was selected by (what tuning may look at), and
/// the ternary flip rates sampled per stage (empty for full precision).</summary>
public sealed record ComparisonRun(string Method, ulong Seed, float LearningRate, TaskEvaluation Evaluation, long DeployedBytes, long Fp16Bytes,
    double TrainSeconds, double DecodeTokensPerSecond, double Validation, IReadOnlyList<(string Stage, IReadOnlyList<(long Step, double FlipRate)> Samples)>? FlipRates = null)
{
    /// <summary>The headline metric: accuracy, or ROUGE-L F for summarization (both in [0, 1]).</summary>
    public double Headline => Evaluation.Classification?.Accuracy ?? Evaluation.Summarization!.RougeL;
}
