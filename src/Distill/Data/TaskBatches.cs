using BitDistill.Distill.Objectives;
using BitDistill.Tensors;

namespace BitDistill.Distill.Data;

/// <summary>Batching of encoded rows. Training batches are RIGHT-padded: the input is prompt + answer without its last token,
/// and the target at position i is token i + 1 where that token belongs to the answer, −100 everywhere else (prompt and
/// padding), so the loss covers the answer tokens only and the first answer token is predicted at the last prompt position.
/// Prompt batches are LEFT-padded prompts for scoring and generation.</summary>
public static class TaskBatches
{
    /// <summary>The ignore index of <see cref="TrainingBatch.Targets"/>.</summary>
    public const long IgnoreIndex = -100;

    /// <summary>Training batches are padded to a multiple of this many positions (at most to <c>limit</c>): batches padded
    /// to their longest row have a new shape almost every step, and every new shape misses the buffer pool; rounding makes
    /// a few shapes recur. Padding is masked and carries no target, so the loss and gradients do not change.</summary>
    public const int LengthMultiple = 8;

    /// <summary>A right-padded training batch of <paramref name="rows"/>, its length rounded up to a multiple of
    /// <see cref="LengthMultiple"/> but not beyond <paramref name="limit"/> (the longest input the task has).</summary>
    public static TrainingBatch Training(IReadOnlyList<EncodedExample> rows, int padId, int limit = int.MaxValue)
    {
        if (rows.Count == 0) throw new ArgumentException("a batch needs at least one row", nameof(rows));
        int b = rows.Count, longest = rows.Max(r => r.Length - 1);
        int t = Math.Max(longest, Math.Min(limit, (longest + LengthMultiple - 1) / LengthMultiple * LengthMultiple));
        var ids = new long[b * t];
        var targets = new long[b * t];
        var mask = new long[b * t];
        Array.Fill(ids, padId);
        Array.Fill(targets, IgnoreIndex);
        for (int r = 0; r < b; r++)
        {
            var row = rows[r];
            int n = row.Length - 1, p = row.Prompt.Length, o = r * t;
            for (int i = 0; i < n; i++)
            {
                ids[o + i] = i < p ? row.Prompt[i] : row.Answer[i - p];
                mask[o + i] = 1;
                if (i + 1 >= p) targets[o + i] = row.Answer[i + 1 - p];
            }
        }
        return new TrainingBatch(Tensor.FromArray(ids, [b, t]), Tensor.FromArray(targets, [b, t]), Tensor.FromArray(mask, [b, t]));
    }

    /// <summary>A left-padded batch of the prompts of <paramref name="rows"/>.</summary>
    public static PromptBatch Prompts(IReadOnlyList<EncodedExample> rows, int padId)
    {
        if (rows.Count == 0) throw new ArgumentException("a batch needs at least one row", nameof(rows));
        int b = rows.Count, t = rows.Max(r => r.Prompt.Length);
        var ids = new long[b * t];
        var mask = new long[b * t];
        Array.Fill(ids, padId);
        for (int r = 0; r < b; r++)
        {
            var p = rows[r].Prompt;
            int o = r * t + (t - p.Length);
            for (int i = 0; i < p.Length; i++) { ids[o + i] = p[i]; mask[o + i] = 1; }
        }
        return new PromptBatch(Tensor.FromArray(ids, [b, t]), Tensor.FromArray(mask, [b, t]), rows.Select(r => r.Label).ToArray(), rows.ToArray());
    }
}
