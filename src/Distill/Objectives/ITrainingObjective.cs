using BitDistill.Models;

namespace BitDistill.Distill.Objectives;

/// <summary>What a training stage minimises: the causal-LM loss (pre-training, stage 2), task cross-entropy (FP-SFT,
/// BitNet-SFT), and stage 3's CE + λ·tempered-KL logits distillation + γ·attention-relation distillation. The trainer
/// takes one and knows nothing else about the recipe.</summary>
public interface ITrainingObjective
{
    /// <summary>A short name for logs and checkpoints ("causal_lm", "task_ce", "bitdistill").</summary>
    string Name { get; }

    /// <summary>The scalar loss to differentiate for one batch, with its named terms for progress and plots.</summary>
    ObjectiveResult Compute(CausalLanguageModel model, TrainingBatch batch);
}
