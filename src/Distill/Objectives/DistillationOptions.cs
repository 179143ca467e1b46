using BitDistill.Distill.Recipes;

namespace BitDistill.Distill.Objectives;

/// <summary>Settings of stage 3's loss CE + λ·LD + γ·AD: the logits-distillation weight λ and temperature τ, the
/// attention-relation weight γ with the layers of student and teacher (null: the official code's relative depth, layer 22
/// of 28), the relation heads and kind, and whether LD covers every non-padding token instead of the CE's tokens.</summary>
public sealed record DistillationOptions
{
    /// <summary>λ: weight of τ²·KL(teacher ‖ student) on the logits (0 = off; the paper: 10 for classification, 1 for summarization).</summary>
    public double LogitsWeight { get; init; } = 10;
    /// <summary>τ: the distillation temperature (the paper: 5).</summary>
    public double Temperature { get; init; } = 5;
    /// <summary>γ: weight of the Q/K/V relation loss at one layer (0 = off; the paper: 1e5 for classification, 1e3 for summarization).</summary>
    public double AttentionWeight { get; init; } = 1e5;
    /// <summary>The student's layer whose relations are distilled; null = <see cref="DefaultLayer"/> of its depth.</summary>
    public int? StudentLayer { get; init; }
    /// <summary>The teacher's layer; null = <see cref="DefaultLayer"/> of the teacher's depth.</summary>
    public int? TeacherLayer { get; init; }
    /// <summary>Relation heads R the concatenated Q/K/V vectors are split into (default 32).</summary>
    public int RelationHeads { get; init; } = AttentionRelationLoss.DefaultRelationHeads;
    /// <summary>How relations are formed (paper: scaled dot product; official code: L2-normalised).</summary>
    public RelationKind Relation { get; init; } = RelationKind.ScaledDotProduct;
    /// <summary>LD over every non-padding token instead of only the tokens the cross-entropy covers.</summary>
    public bool LogitsOverAllTokens { get; init; }

    /// <summary>The layer at the official code's relative depth (22 of 28) for a model of <paramref name="layers"/> layers.</summary>
    public static int DefaultLayer(int layers) => Math.Clamp((int)Math.Round(22.0 * layers / 28), 0, Math.Max(0, layers - 1));

    /// <summary>The stage-3 settings a recipe names (λ, τ, γ; its attention layer for both student and teacher, which
    /// share a depth when the student is refined from the teacher's base); the rest keep their defaults.</summary>
    public static DistillationOptions From(Recipe recipe) => new()
    {
        LogitsWeight = recipe.LogitsDistillationWeight,
        Temperature = recipe.Temperature,
        AttentionWeight = recipe.AttentionDistillationWeight,
        StudentLayer = recipe.AttentionLayer,
        TeacherLayer = recipe.AttentionLayer,
    };

    /// <summary>Throws on settings that cannot run, naming the field.</summary>
    public void Validate()
    {
        if (!(LogitsWeight >= 0)) throw new ArgumentException($"LogitsWeight (λ) must be ≥ 0, got {LogitsWeight}");
        if (!(AttentionWeight >= 0)) throw new ArgumentException($"AttentionWeight (γ) must be ≥ 0, got {AttentionWeight}");
        if (!(Temperature > 0)) throw new ArgumentException($"Temperature (τ) must be > 0, got {Temperature}");
        if (RelationHeads <= 0) throw new ArgumentException($"RelationHeads must be > 0, got {RelationHeads}");
        if (StudentLayer is < 0) throw new ArgumentException($"StudentLayer must be ≥ 0, got {StudentLayer}");
        if (TeacherLayer is < 0) throw new ArgumentException($"TeacherLayer must be ≥ 0, got {TeacherLayer}");
    }
}
