using BitDistill.Distill.Objectives;
using BitDistill.Kernels;

namespace BitDistill.Distill.Data;

/// <summary>A split's encoded rows with the batches the verbs draw from them: <see cref="BatchAt"/> gives training step s's
/// batch from (seed, step) alone (each epoch a seeded permutation), so a resumed run sees the same batches;
/// <see cref="TrainingBatches"/> and <see cref="PromptBatches"/> walk the rows in order for evaluation.</summary>
public sealed class EncodedTask
{
    /// <summary>Wraps encoded rows.</summary>
    public EncodedTask(IReadOnlyList<EncodedExample> rows, TaskKind kind, int padId)
    {
        Rows = rows; Kind = kind; PadId = padId;
    }

    /// <summary>The rows, in split order.</summary>
    public IReadOnlyList<EncodedExample> Rows { get; }
    /// <summary>The task kind.</summary>
    public TaskKind Kind { get; }
    /// <summary>Padding id.</summary>
    public int PadId { get; }
    /// <summary>Rows whose text was truncated to fit.</summary>
    public int TruncatedCount => Rows.Count(r => r.Truncated);
    /// <summary>Answer tokens over all rows (the tokens the loss covers).</summary>
    public long AnswerTokens => Rows.Sum(r => (long)r.Answer.Length);

    /// <summary>Training batch of step <paramref name="step"/>: rows step·B … step·B + B − 1 of the concatenated per-epoch
    /// permutations (epoch e's permutation is a seeded Fisher–Yates shuffle of (seed, e)), right-padded.</summary>
    public TrainingBatch BatchAt(long step, int batchSize, ulong seed)
    {
        if (Rows.Count == 0) throw new InvalidOperationException("no rows to batch");
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "batch size must be positive");
        var batch = new EncodedExample[batchSize];
        for (int i = 0; i < batchSize; i++)
        {
            long k = step * batchSize + i;
            long epoch = k / Rows.Count;
            batch[i] = Rows[Permutation(epoch, seed)[(int)(k % Rows.Count)]];
        }
        return TaskBatches.Training(batch, PadId, LongestInput);
    }

    private int _longestInput = -1;

    /// <summary>The longest training input (prompt + answer − 1) of any row: the bound of padded batch lengths.</summary>
    public int LongestInput => _longestInput >= 0 ? _longestInput : _longestInput = Rows.Count == 0 ? 0 : Rows.Max(r => r.Length - 1);

    private long _permEpoch = -1;
    private ulong _permSeed;
    private int[] _perm = [];

    /// <summary>The row order of epoch <paramref name="epoch"/> under <paramref name="seed"/>.</summary>
    public int[] Permutation(long epoch, ulong seed)
    {
        if (epoch == _permEpoch && seed == _permSeed) return _perm;
        var p = Enumerable.Range(0, Rows.Count).ToArray();
        for (int i = p.Length - 1; i > 0; i--)
        {
            var (r0, r1, _, _) = Philox.Block((ulong)i, (ulong)epoch, seed);
            int j = (int)(((((ulong)r1) << 32) | r0) % (ulong)(i + 1));
            (p[i], p[j]) = (p[j], p[i]);
        }
        (_permEpoch, _permSeed, _perm) = (epoch, seed, p);
        return p;
    }

    /// <summary>Right-padded training batches over the rows in order (for validation loss).</summary>
    public IEnumerable<TrainingBatch> TrainingBatches(int batchSize)
    {
        for (int i = 0; i < Rows.Count; i += batchSize)
            yield return TaskBatches.Training(Rows.Skip(i).Take(batchSize).ToArray(), PadId, LongestInput);
    }

    /// <summary>Left-padded prompt batches over the rows in order (for scoring and generation).</summary>
    public IEnumerable<PromptBatch> PromptBatches(int batchSize)
    {
        for (int i = 0; i < Rows.Count; i += batchSize)
            yield return TaskBatches.Prompts(Rows.Skip(i).Take(batchSize).ToArray(), PadId);
    }
}
