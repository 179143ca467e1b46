using System.Globalization;
using BitDistill.Distill.Data;
using BitDistill.Distill.Objectives;

namespace BitDistill.Distill.Training;

/// <summary>Causal-LM batches of random windows from a token corpus (pre-training, stage 2), deterministic by seed and index.</summary>
public sealed class CorpusBatches(TokenDataset data, int batchSize, int seqLen, ulong seed) : IBatchSource
{
    /// <inheritdoc/>
    public TrainingBatch Get(long index)
    {
        var (x, y) = data.RandomBatch(batchSize, seqLen, seed, index);
        return new TrainingBatch(x, y);
    }

    /// <inheritdoc/>
    public long TokensPerBatch => (long)batchSize * seqLen;

    /// <inheritdoc/>
    public string Fingerprint => string.Create(CultureInfo.InvariantCulture,
        $"corpus {data.Source}: {data.Count} tokens, hash {TokenHash(data.Tokens):x16}; batch {batchSize} × {seqLen}, seed {seed}");

    /// <summary>FNV-1a over the token ids (cheap, order-sensitive).</summary>
    public static ulong TokenHash(ReadOnlySpan<int> tokens)
    {
        ulong h = 14695981039346656037UL;
        foreach (int t in tokens) { h ^= (uint)t; h *= 1099511628211UL; }
        return h;
    }
}
