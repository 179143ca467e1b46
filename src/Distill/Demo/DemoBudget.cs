namespace BitDistill.Distill.Demo;

/// <summary>The demo's budget per task: task steps and batch, stage-2 steps, and how many test rows (classification;
/// summarization, whose evaluation generates) and validation rows are used. Quick is the same path in about a minute.</summary>
public sealed record DemoBudget(int TaskSteps, int Batch, int Stage2Steps, int Stage2SeqLen, int TestRows, int SummaryTestRows, int ValidationRows, int DecodeTokens)
{
    /// <summary>The default budget: 40 steps of 16 rows per method (about 0.4–0.8 epoch of the shipped tasks), 40 stage-2
    /// steps of 16 × 128 tokens (82 k tokens) per seed, every classification test row and 100 summarization test rows.</summary>
    public static DemoBudget Default { get; } = new(TaskSteps: 40, Batch: 16, Stage2Steps: 40, Stage2SeqLen: 128, TestRows: int.MaxValue, SummaryTestRows: 100, ValidationRows: 100, DecodeTokens: 32);

    /// <summary>The quick budget (the tests use it).</summary>
    public static DemoBudget Quick { get; } = new(TaskSteps: 6, Batch: 8, Stage2Steps: 4, Stage2SeqLen: 64, TestRows: 32, SummaryTestRows: 16, ValidationRows: 16, DecodeTokens: 8);
}
