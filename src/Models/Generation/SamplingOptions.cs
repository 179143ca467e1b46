using BitDistill.Kernels;

namespace BitDistill.Models.Generation;

/// <summary>How the next token is chosen (Hugging Face generate semantics and order: repetition penalty → temperature →
/// top-k → top-p → sample; greedy takes the argmax after the repetition penalty).</summary>
public sealed record SamplingOptions
{
    /// <summary>Take the most likely token (ignores temperature, top-k, top-p).</summary>
    public bool Greedy { get; init; }
    /// <summary>Softmax temperature (&gt; 0).</summary>
    public float Temperature { get; init; } = 1f;
    /// <summary>Keep only the k most likely tokens (0 = off).</summary>
    public int TopK { get; init; }
    /// <summary>Keep the smallest set of tokens whose probability reaches p (1 = off).</summary>
    public float TopP { get; init; } = 1f;
    /// <summary>HF repetition penalty (1 = off): seen tokens' logits are divided by it when positive, multiplied when negative.</summary>
    public float RepetitionPenalty { get; init; } = 1f;
    /// <summary>Seed of the counter-based generator used for sampling.</summary>
    public ulong Seed { get; init; }

    /// <summary>Throws on out-of-range values, naming the field (the kernels' checks: one definition of the valid ranges).</summary>
    public void Validate() => ToSettings().Validate();

    /// <summary>The same settings as the kernels' <see cref="SamplerSettings"/> (what <see cref="TokenSampler"/> and the runtime take).</summary>
    public SamplerSettings ToSettings() => new()
    {
        Greedy = Greedy, Temperature = Temperature, TopK = TopK, TopP = TopP, RepetitionPenalty = RepetitionPenalty, Seed = Seed,
    };
}
