using System.Globalization;
using BitDistill.Distill.Data;
using BitDistill.Distill.Objectives;

namespace BitDistill.Distill.Training;

/// <summary>Training batches of a task's encoded rows (right-padded, targets on the answer tokens only), a seeded permutation
/// per epoch, deterministic by (seed, step) so a resumed run sees the same batches.</summary>
public sealed class TaskBatchSource(EncodedTask rows, int batchSize, ulong seed) : IBatchSource
{
    /// <inheritdoc/>
    public TrainingBatch Get(long index) => rows.BatchAt(index, batchSize, seed);

    /// <inheritdoc/>
    public long TokensPerBatch => Math.Max(1, (long)Math.Round(batchSize * rows.Rows.Average(r => (double)r.Length)));

    /// <inheritdoc/>
    public string Fingerprint
    {
        get
        {
            ulong h = 14695981039346656037UL;
            foreach (var r in rows.Rows)
            {
                h = (h ^ CorpusBatches.TokenHash(r.Prompt)) * 1099511628211UL;
                h = (h ^ CorpusBatches.TokenHash(r.Answer)) * 1099511628211UL;
            }
            return string.Create(CultureInfo.InvariantCulture, $"task {rows.Kind}: {rows.Rows.Count} rows, hash {h:x16}; batch {batchSize}, seed {seed}");
        }
    }
}
