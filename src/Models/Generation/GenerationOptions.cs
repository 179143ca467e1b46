namespace BitDistill.Models.Generation;

/// <summary>What <see cref="TextGenerator.Generate(int[], GenerationOptions?)"/> does: how many tokens, how each is chosen, when to stop,
/// and whom to tell about each new token.</summary>
public sealed record GenerationOptions
{
    /// <summary>Most tokens to generate (the stop token, if one is generated, counts and is included in the result).</summary>
    public int MaxNewTokens { get; init; } = 64;
    /// <summary>How the next token is chosen (greedy, temperature, top-k, top-p, repetition penalty, seed).</summary>
    public SamplingOptions Sampling { get; init; } = new();
    /// <summary>Ids that end generation; null = <see cref="TextGenerator.DefaultStopTokenIds"/> (the config's eos ids and the
    /// tokenizer's EOS); empty = never stop early.</summary>
    public IReadOnlyCollection<int>? StopTokenIds { get; init; }
    /// <summary>Called once per generated token, in order, as soon as it is chosen (streaming).</summary>
    public Action<GeneratedToken>? OnToken { get; init; }
    /// <summary>Leave special tokens (such as the EOS text) out of the streamed and returned text.</summary>
    public bool SkipSpecialTokens { get; init; } = true;
    /// <summary>Keep a copy of the logits each generated token was chosen from (before sampling penalties), for checks.</summary>
    public bool KeepStepLogits { get; init; }

    /// <summary>Throws on out-of-range values, naming the field.</summary>
    public void Validate()
    {
        if (MaxNewTokens < 0) throw new ArgumentOutOfRangeException(nameof(MaxNewTokens), MaxNewTokens, "max new tokens must be ≥ 0");
        ArgumentNullException.ThrowIfNull(Sampling);
        Sampling.Validate();
    }
}
