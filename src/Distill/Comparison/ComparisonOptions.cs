using BitDistill.Distill.Data;
using BitDistill.Distill.Recipes;
using BitDistill.Distill.Training;

namespace BitDistill.Distill.Comparison;

/// <summary>How a method comparison runs: the methods, the seeds, the budgets (task steps and stage-2 steps, the same for
/// every method), the learning rates every method is swept over, distillation overrides, and where run folders go.</summary>
public sealed record ComparisonOptions
{
    /// <summary>The methods, in table order (FP-SFT runs first whatever the order: it is the distilling methods' teacher).</summary>
    public required IReadOnlyList<Recipe> Methods { get; init; }
    /// <summary>Seeds per method; seed i is <c>Task.Seed + i</c>.</summary>
    public int Seeds { get; init; } = 1;
    /// <summary>Task-stage training (FP-SFT, BitNet-SFT, stage 3).</summary>
    public required TrainingOptions Task { get; init; }
    /// <summary>Stage-2 training (steps, sequence length); the seed follows the task seed.</summary>
    public TrainingOptions Stage2 { get; init; } = new() { Steps = 100, SeqLen = 128 };
    /// <summary>Stage 2's corpus (required when a method continues pre-training).</summary>
    public TokenDataset? Corpus { get; init; }
    /// <summary>Learning rates every method is trained with; each method keeps the best on validation (null: Task's only).</summary>
    public IReadOnlyList<float>? LearningRates { get; init; }
    /// <summary>Overrides γ of every method that distils attention relations.</summary>
    public double? Gamma { get; init; }
    /// <summary>Overrides λ of every method that distils logits.</summary>
    public double? Lambda { get; init; }
    /// <summary>Relation heads of the attention distillation.</summary>
    public int RelationHeads { get; init; } = 32;
    /// <summary>Greedy tokens generated to measure decode speed per model (0: not measured).</summary>
    public int DecodeTokens { get; init; } = 32;
    /// <summary>Steps between samples of the ternary flip rate.</summary>
    public int FlipRateEvery { get; init; } = 10;
    /// <summary>Rows per evaluation forward.</summary>
    public int EvalBatchSize { get; init; } = 16;
    /// <summary>Longest generated summary.</summary>
    public int MaxNewTokens { get; init; } = 48;
    /// <summary>Folder for each run's checkpoints (seedN/METHOD/…); null = no checkpoints (and no best-model restore).</summary>
    public string? RunDir { get; init; }
    /// <summary>Stage-2 students shared between comparisons on several tasks (stage 2 does not depend on the task).</summary>
    public Stage2Cache? Stage2Cache { get; init; }
    /// <summary>Progress output.</summary>
    public TextWriter? Log { get; init; }
    /// <summary>Ctrl-C / SIGTERM.</summary>
    public CancellationToken Cancellation { get; init; }
}
