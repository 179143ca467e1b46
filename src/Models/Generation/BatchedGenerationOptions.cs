namespace BitDistill.Models.Generation;

/// <summary>What <see cref="BatchedGenerator.Generate(IReadOnlyList{int[]}, BatchedGenerationOptions?)"/> does: greedy decoding
/// of many prompts, <see cref="BatchSize"/> rows per forward pass, each row stopping at a stop token or
/// <see cref="MaxNewTokens"/>.</summary>
public sealed record BatchedGenerationOptions
{
    /// <summary>Most tokens to generate per row (a stop token, if generated, counts and is included).</summary>
    public int MaxNewTokens { get; init; } = 64;
    /// <summary>Rows that go through one forward pass together (left-padded to the longest prompt among them).</summary>
    public int BatchSize { get; init; } = 8;
    /// <summary>Ids that end a row; null = <see cref="BatchedGenerator.DefaultStopTokenIds"/>; empty = never stop early.</summary>
    public IReadOnlyCollection<int>? StopTokenIds { get; init; }
    /// <summary>The id written into padding positions (masked out, so any valid id gives the same result); null = the
    /// tokenizer's pad token, else 0.</summary>
    public int? PadTokenId { get; init; }
    /// <summary>Group prompts of similar length into the same batch (less padding); results keep the input order either way.</summary>
    public bool SortByLength { get; init; } = true;
    /// <summary>Called after each batch with the number of rows finished so far and the total.</summary>
    public Action<int, int>? OnProgress { get; init; }

    /// <summary>Throws on out-of-range values, naming the field.</summary>
    public void Validate()
    {
        if (MaxNewTokens < 0) throw new ArgumentOutOfRangeException(nameof(MaxNewTokens), MaxNewTokens, "max new tokens must be ≥ 0");
        if (BatchSize < 1) throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "the batch size must be ≥ 1");
        if (PadTokenId < 0) throw new ArgumentOutOfRangeException(nameof(PadTokenId), PadTokenId, "the pad id must be ≥ 0");
    }
}
