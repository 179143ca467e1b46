using BitDistill.Models.BitNet;

namespace BitDistill.Distill.Recipes;

/// <summary>A method of the paper's comparison as data: whether the student is ternary and with which SubLN placement
/// (stage 1), whether it is continued-pretrained (stage 2), and the weights of the distillation terms of stage 3
/// (λ for the τ-tempered logits KL, γ for the attention relations at one layer). Baselines and ablations are instances
/// of this record (see <see cref="KnownRecipes"/>), not code paths.</summary>
public sealed record Recipe
{
    /// <summary>Short name used on the command line and in tables ("bitdistill", "bitnet-sft", …).</summary>
    public required string Name { get; init; }
    /// <summary>One line for tables and help.</summary>
    public required string Description { get; init; }
    /// <summary>Stage 1's settings (BitLinear, SubLN placement); null: the student stays full precision (FP-SFT).</summary>
    public BitNetConfig? BitNet { get; init; }
    /// <summary>Stage 2: continued causal-LM training of the refined student on a general corpus.</summary>
    public bool ContinuedPretraining { get; init; }
    /// <summary>λ: weight of τ²·KL(teacher ‖ student) on the logits in stage 3 (0 = off).</summary>
    public double LogitsDistillationWeight { get; init; }
    /// <summary>τ: the distillation temperature (the paper: 5).</summary>
    public double Temperature { get; init; } = 5;
    /// <summary>γ: weight of the MiniLM-style Q/K/V relation loss at one layer in stage 3 (0 = off).</summary>
    public double AttentionDistillationWeight { get; init; }
    /// <summary>The layer whose relations are distilled; null = the paper's choice (about 3/4 of the depth: layer 22 of 28).</summary>
    public int? AttentionLayer { get; init; }

    /// <summary>Whether stage 3 uses a teacher at all.</summary>
    public bool UsesTeacher => LogitsDistillationWeight > 0 || AttentionDistillationWeight > 0;

    /// <summary>Throws on settings that cannot run, naming the field.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Name)) throw new ArgumentException("a recipe needs a name");
        if (ContinuedPretraining && BitNet is null) throw new ArgumentException($"recipe '{Name}': continued pre-training (stage 2) applies to a refined (ternary) student; set bitnet");
        if (!(LogitsDistillationWeight >= 0) || !(AttentionDistillationWeight >= 0)) throw new ArgumentException($"recipe '{Name}': distillation weights must be ≥ 0");
        if (!(Temperature > 0)) throw new ArgumentException($"recipe '{Name}': temperature must be > 0, got {Temperature}");
        if (AttentionLayer is < 0) throw new ArgumentException($"recipe '{Name}': attention layer must be ≥ 0, got {AttentionLayer}");
    }
}
