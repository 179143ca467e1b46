using BitDistill.Distill.Data;
using BitDistill.Distill.Evaluation;
using BitDistill.Distill.Objectives;
using BitDistill.Distill.Training;
using BitDistill.Models;

namespace BitDistill.Distill.Stages;

/// <summary>Task fine-tuning: FP-SFT and BitNet-SFT with the answer-token cross-entropy, stage 3 of BitDistill with
/// CE + λ·LD + γ·AD; validation on held-out rows (accuracy or ROUGE-L) keeps the best model.</summary>
public sealed class TaskFineTuningStage(EncodedTask train, IReadOnlyList<EncodedExample> validation, TaskEncoder encoder,
    ITrainingObjective objective, TrainingOptions options, int evalBatchSize = 16, int maxNewTokens = 64) : IStage
{
    /// <inheritdoc/>
    public string Name => $"task fine-tuning ({objective.Name}, {options.Steps} steps)";

    /// <inheritdoc/>
    public StageResult Run(CausalLanguageModel model) =>
        new(model, Trainer.Train(model, new TaskBatchSource(train, options.BatchSize, options.Seed), objective, options,
            validation.Count == 0 ? null : m => TaskEvaluator.Evaluate(m, encoder, validation, evalBatchSize, maxNewTokens).AsValidation()));
}
