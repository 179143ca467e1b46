using BitDistill.Kernels;
using BitDistill.Tensors;

namespace BitDistill.Runtime;

/// <summary>What <see cref="RuntimeGenerator.Generate"/> does: how many tokens, how each is chosen, when to stop, and whom to tell
/// about each new token.</summary>
public sealed record RuntimeGenerationOptions
{
    /// <summary>Most tokens to generate (a stop token, if one is generated, counts and is included in the result).</summary>
    public int MaxNewTokens { get; init; } = 64;
    /// <summary>How the next token is chosen (greedy, temperature, top-k, top-p, repetition penalty, seed).</summary>
    public SamplerSettings Sampling { get; init; } = new();
    /// <summary>Ids that end generation; null = the config's eos_token_id(s); empty = never stop early.</summary>
    public IReadOnlyCollection<int>? StopTokenIds { get; init; }
    /// <summary>Called with each generated token id, in order, as soon as it is chosen (streaming; text decoding is the caller's).</summary>
    public Action<int>? OnToken { get; init; }
    /// <summary>Element type of the KV cache of a session the generator creates (Float32 or Float16); a session passed in keeps its own.</summary>
    public DType KvCache { get; init; } = DType.Float32;

    /// <summary>Throws on out-of-range values, naming the field.</summary>
    public void Validate()
    {
        if (MaxNewTokens < 0) throw new ArgumentOutOfRangeException(nameof(MaxNewTokens), MaxNewTokens, "max new tokens must be ≥ 0");
        ArgumentNullException.ThrowIfNull(Sampling);
        Sampling.Validate();
        if (KvCache is not (DType.Float32 or DType.Float16)) throw new ArgumentOutOfRangeException(nameof(KvCache), KvCache, "the KV cache is Float32 or Float16");
    }
}
