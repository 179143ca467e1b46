using BitDistill.Distill.Data;
using BitDistill.Distill.Objectives;
using BitDistill.Distill.Training;

namespace BitDistill.Distill.Recipes;

/// <summary>How a recipe runs: the training settings of stage 2 and of the task stage, the corpus, distillation settings
/// beyond the recipe's (layers, relation heads and kind), evaluation sizes, and where checkpoints go.</summary>
public sealed record RecipeRunOptions
{
    /// <summary>Task fine-tuning (FP-SFT, BitNet-SFT, stage 3).</summary>
    public required TrainingOptions Task { get; init; }
    /// <summary>Stage 2 (continued pre-training).</summary>
    public TrainingOptions Stage2 { get; init; } = new() { Steps = 200 };
    /// <summary>Stage 2's corpus.</summary>
    public TokenDataset? Corpus { get; init; }
    /// <summary>Stage-2 students shared across runs from the same base model and corpus (null: none).</summary>
    public Stage2Cache? Stage2Cache { get; init; }
    /// <summary>Held-out corpus text for stage 2's perplexity.</summary>
    public TokenDataset? CorpusValidation { get; init; }
    /// <summary>Distillation settings (null: from the recipe, with the paper's layer and relation defaults).</summary>
    public DistillationOptions? Distillation { get; init; }
    /// <summary>Rows per evaluation forward.</summary>
    public int EvalBatchSize { get; init; } = 16;
    /// <summary>Longest generated summary.</summary>
    public int MaxNewTokens { get; init; } = 48;
    /// <summary>Steps between flip-rate samples.</summary>
    public int FlipRateEvery { get; init; } = 10;
    /// <summary>Run folder (stage2/, task/ inside); null = no checkpoints.</summary>
    public string? CheckpointDir { get; init; }
    /// <summary>Progress output.</summary>
    public TextWriter? Log { get; init; }
    /// <summary>Ctrl-C / SIGTERM.</summary>
    public CancellationToken Cancellation { get; init; }
}
