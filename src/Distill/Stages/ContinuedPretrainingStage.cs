using BitDistill.Distill.Data;
using BitDistill.Distill.Objectives;
using BitDistill.Distill.Training;
using BitDistill.Models;

namespace BitDistill.Distill.Stages;

/// <summary>Stage 2, continued pre-training: causal-LM training of the refined student on a general corpus (quantisation-
/// aware, straight-through estimator), so its weights can adapt to the ternary constraint before the task.</summary>
public sealed class ContinuedPretrainingStage(TokenDataset corpus, TokenDataset? validation, TrainingOptions options) : IStage
{
    /// <inheritdoc/>
    public string Name => $"stage 2: continued pre-training ({options.Steps} steps)";

    /// <inheritdoc/>
    public StageResult Run(CausalLanguageModel model) =>
        new(model, CausalLmTrainer.Train(model, corpus, validation, options, new CausalLmObjective()));
}
