using BitDistill.Distill.Training;
using BitDistill.Models;

namespace BitDistill.Distill.Stages;

/// <summary>What a stage produced: the model for the next stage and, for training stages, the training history.</summary>
public sealed record StageResult(CausalLanguageModel Model, TrainingHistory? History = null);
