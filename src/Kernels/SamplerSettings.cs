namespace BitDistill.Kernels;

/// <summary>How <see cref="TokenSampler"/> chooses the next token (Hugging Face generate semantics and order: repetition penalty →
/// temperature → top-k → top-p → sample; greedy takes the argmax after the repetition penalty).</summary>
public sealed record SamplerSettings
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

    /// <summary>Throws on out-of-range values, naming the field.</summary>
    public void Validate()
    {
        if (!(Temperature > 0)) throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature, "temperature must be > 0");
        if (TopK < 0) throw new ArgumentOutOfRangeException(nameof(TopK), TopK, "top-k must be ≥ 0");
        if (!(TopP > 0 && TopP <= 1)) throw new ArgumentOutOfRangeException(nameof(TopP), TopP, "top-p must be in (0, 1]");
        if (!(RepetitionPenalty > 0)) throw new ArgumentOutOfRangeException(nameof(RepetitionPenalty), RepetitionPenalty, "repetition penalty must be > 0");
    }
}
