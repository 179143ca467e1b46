using System.Globalization;
using BitDistill.Distill.Data;

namespace BitDistill.Distill.Evaluation;

/// <summary>How held-out perplexity is measured: consecutive non-overlapping windows of <see cref="SeqLen"/> tokens, at most
/// <see cref="MaxWindows"/>, scored in batches of <see cref="Batch"/>. Every verb (and the unigram baseline) measures
/// through one protocol, so the same model on the same text gives the same number everywhere, and each number is printed
/// with the tokens it covers.</summary>
public sealed record PerplexityProtocol(int SeqLen, int MaxWindows = 64, int Batch = 8)
{
    /// <summary>What `pretrain`, stage 2 and `quantize` use unless told otherwise: 64 windows of 128 tokens.</summary>
    public static PerplexityProtocol Default { get; } = new(128);

    /// <summary>Number of windows scored on <paramref name="data"/>; an error when the text is shorter than one window.</summary>
    public int Windows(TokenDataset data)
    {
        int n = Math.Min(MaxWindows, (data.Count - 1) / SeqLen);
        if (n <= 0) throw new InvalidDataException($"{data.Source}: {data.Count} tokens are fewer than one perplexity window of {SeqLen + 1}");
        return n;
    }

    /// <summary>The ids whose probabilities are scored (every window's next-token targets, in order).</summary>
    public ReadOnlySpan<int> ScoredTokens(TokenDataset data) => data.Tokens.AsSpan(1, Windows(data) * SeqLen);

    /// <summary>"8,192 tokens (64 windows of 128)": printed beside every perplexity.</summary>
    public string Describe(TokenDataset data)
    {
        int n = Windows(data);
        return string.Create(CultureInfo.InvariantCulture, $"{(long)n * SeqLen:N0} tokens ({n} windows of {SeqLen})");
    }
}
