using BitDistill.Kernels;
using BitDistill.Models.Tokenization;
using BitDistill.Tensors;

namespace BitDistill.Distill.Data;

/// <summary>A token stream for causal-LM training: documents tokenised and concatenated with an end-of-text id between
/// them. Training batches are random windows chosen by a counter-based generator from (seed, step), so batch s is the same
/// whether a run was interrupted and resumed or not.</summary>
public sealed class TokenDataset
{
    /// <summary>Wraps token ids.</summary>
    public TokenDataset(int[] tokens, string source)
    {
        Tokens = tokens;
        Source = source;
    }

    /// <summary>The concatenated ids.</summary>
    public int[] Tokens { get; }
    /// <summary>Where the tokens came from (for errors and reports).</summary>
    public string Source { get; }
    public int Count => Tokens.Length;

    /// <summary>Tokenises documents (<paramref name="separatorId"/> after each document); special-token text inside a document
    /// stays text unless <paramref name="parseSpecialTokens"/> (corpora are untrusted data, as Hugging Face's <c>split_special_tokens</c>).</summary>
    public static TokenDataset FromDocuments(IEnumerable<string> docs, TextTokenizer tokenizer, int separatorId, string source, bool parseSpecialTokens = false)
    {
        var ids = new List<int>();
        foreach (var d in docs) { ids.AddRange(tokenizer.Encode(d, parseSpecialTokens: parseSpecialTokens)); ids.Add(separatorId); }
        if (ids.Count == 0) throw new InvalidDataException($"{source}: the dataset is empty (no documents)");
        return new TokenDataset(ids.ToArray(), source);
    }

    /// <summary>Reads and tokenises corpus files (see <see cref="TextCorpus"/>).</summary>
    public static TokenDataset FromFiles(IEnumerable<string> paths, TextTokenizer tokenizer, int separatorId, bool parseSpecialTokens = false)
    {
        var list = paths.ToArray();
        if (list.Length == 0) throw new ArgumentException("no corpus files given");
        return FromDocuments(list.SelectMany(TextCorpus.ReadDocuments), tokenizer, separatorId, string.Join(", ", list), parseSpecialTokens);
    }

    /// <summary>Batch for training step <paramref name="step"/>: inputs [B, T] and next-token labels [B, T] (Int64).</summary>
    public (Tensor inputs, Tensor labels) RandomBatch(int batch, int seqLen, ulong seed, long step)
    {
        if (Count < seqLen + 1) throw new InvalidDataException($"{Source}: {Count} tokens are fewer than one window of {seqLen + 1}");
        var x = new long[batch * seqLen]; var y = new long[batch * seqLen];
        int span = Count - seqLen;
        for (int b = 0; b < batch; b++)
        {
            var (r0, r1, _, _) = Philox.Block((ulong)step, (ulong)b, seed);
            int start = (int)((((ulong)r1 << 32) | r0) % (ulong)span);
            for (int t = 0; t < seqLen; t++) { x[b * seqLen + t] = Tokens[start + t]; y[b * seqLen + t] = Tokens[start + t + 1]; }
        }
        return (Tensor.FromArray(x, [batch, seqLen]), Tensor.FromArray(y, [batch, seqLen]));
    }

    /// <summary>Consecutive non-overlapping windows covering the stream (for evaluation), at most <paramref name="maxWindows"/>.</summary>
    public IEnumerable<(Tensor inputs, Tensor labels)> Windows(int batch, int seqLen, int maxWindows = int.MaxValue)
    {
        int n = Math.Min(maxWindows, (Count - 1) / seqLen);
        if (n == 0) throw new InvalidDataException($"{Source}: {Count} tokens are fewer than one window of {seqLen + 1}");
        for (int w0 = 0; w0 < n; w0 += batch)
        {
            int bs = Math.Min(batch, n - w0);
            var x = new long[bs * seqLen]; var y = new long[bs * seqLen];
            for (int b = 0; b < bs; b++)
                for (int t = 0; t < seqLen; t++)
                {
                    int p = (w0 + b) * seqLen + t;
                    x[b * seqLen + t] = Tokens[p]; y[b * seqLen + t] = Tokens[p + 1];
                }
            yield return (Tensor.FromArray(x, [bs, seqLen]), Tensor.FromArray(y, [bs, seqLen]));
        }
    }
}
