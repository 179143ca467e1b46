using BitDistill.Models.BitNet;

namespace BitDistill.Distill.Recipes;

/// <summary>The methods of the paper's comparison (PAPER.md): BitDistill, its baselines and its ablations, with the
/// paper's defaults for classification (λ = 10, γ = 1e5, τ = 5). Summarization uses λ = 1, γ = 1e3 (<see cref="ForSummarization"/>).</summary>
public static class KnownRecipes
{
    /// <summary>The full method: refine with SubLN, continue pre-training, distil logits and attention relations.</summary>
    public static Recipe BitDistill { get; } = new()
    {
        Name = "bitdistill", Description = "BitDistill: SubLN + continued pre-training + logits and attention distillation",
        BitNet = new BitNetConfig { SubLn = SubLnPlacement.Paper }, ContinuedPretraining = true,
        LogitsDistillationWeight = 10, AttentionDistillationWeight = 1e5,
    };

    /// <summary>Full-precision task fine-tuning (the teacher, and the accuracy to keep).</summary>
    public static Recipe FpSft { get; } = new() { Name = "fp-sft", Description = "full-precision fine-tuning on the task" };

    /// <summary>Stage 1's BitLinear swap without SubLN, no stage 2, no distillation: plain ternary fine-tuning.</summary>
    public static Recipe BitNetSft { get; } = new()
    {
        Name = "bitnet-sft", Description = "BitNet-SFT: ternary fine-tuning on the task (no SubLN, no stage 2, no distillation)",
        BitNet = new BitNetConfig { SubLn = SubLnPlacement.None },
    };

    /// <summary>Ablation: BitDistill without SubLN.</summary>
    public static Recipe NoSubLn { get; } = BitDistill with { Name = "no-subln", Description = "BitDistill without SubLN", BitNet = new BitNetConfig { SubLn = SubLnPlacement.None } };

    /// <summary>Ablation: BitDistill without continued pre-training (stage 2).</summary>
    public static Recipe NoStage2 { get; } = BitDistill with { Name = "no-stage2", Description = "BitDistill without continued pre-training", ContinuedPretraining = false };

    /// <summary>Ablation: logits distillation only in stage 3.</summary>
    public static Recipe LogitsOnly { get; } = BitDistill with { Name = "ld-only", Description = "BitDistill with logits distillation only", AttentionDistillationWeight = 0 };

    /// <summary>Ablation: attention-relation distillation only in stage 3.</summary>
    public static Recipe AttentionOnly { get; } = BitDistill with { Name = "ad-only", Description = "BitDistill with attention distillation only", LogitsDistillationWeight = 0 };

    /// <summary>BitDistill trained with the GPTQ-style ternary quantiser (the official code's "GPTQ-inspired" variant): per-row
    /// scales and error feedback re-solved every <see cref="BitNetConfig.DefaultRequantEvery"/> steps on running input statistics.</summary>
    public static Recipe BitDistillGptq { get; } = BitDistill with
    {
        Name = "bitdistill-gptq", Description = "BitDistill trained with the GPTQ-style ternary quantiser",
        BitNet = new BitNetConfig { SubLn = SubLnPlacement.Paper, WeightQuant = WeightQuantizer.Gptq, WeightScale = WeightScaleMode.PerChannel },
    };

    /// <summary>BitDistill trained with the AWQ-style ternary quantiser (the official code's "AWQ-inspired" variant): input
    /// scales from running mean |x| re-searched every <see cref="BitNetConfig.DefaultRequantEvery"/> steps.</summary>
    public static Recipe BitDistillAwq { get; } = BitDistill with
    {
        Name = "bitdistill-awq", Description = "BitDistill trained with the AWQ-style ternary quantiser",
        BitNet = new BitNetConfig { SubLn = SubLnPlacement.Paper, WeightQuant = WeightQuantizer.Awq, WeightScale = WeightScaleMode.PerChannel },
    };

    /// <summary>Every method, in the order of the paper's tables, then the GPTQ-/AWQ-style training quantisers.</summary>
    public static IReadOnlyList<Recipe> All { get; } = [FpSft, BitNetSft, BitDistill, NoSubLn, NoStage2, LogitsOnly, AttentionOnly, BitDistillGptq, BitDistillAwq];

    /// <summary>The recipe called <paramref name="name"/>, or an error listing the known ones.</summary>
    public static Recipe ByName(string name) => All.FirstOrDefault(r => r.Name == name)
        ?? throw new ArgumentException($"unknown recipe '{name}' (known: {string.Join(", ", All.Select(r => r.Name))})");

    /// <summary>The recipe with the paper's summarization weights (λ = 1, γ = 1e3) where it distils.</summary>
    public static Recipe ForSummarization(Recipe r) => r with
    {
        LogitsDistillationWeight = r.LogitsDistillationWeight > 0 ? 1 : 0,
        AttentionDistillationWeight = r.AttentionDistillationWeight > 0 ? 1e3 : 0,
    };
}
