namespace BitDistill.Distill.Data;

/// <summary>Rows of one split whose input (text and pair, or document) also occurs in train: how many, and the first few
/// (with where they are in both).</summary>
public sealed record DuplicateReport(string Split, int Count, IReadOnlyList<string> FirstExamples)
{
    /// <summary>How many examples a report keeps.</summary>
    public const int KeptExamples = 3;

    /// <summary>The rows of <paramref name="other"/> whose input occurs in <paramref name="train"/>.</summary>
    public static DuplicateReport Find(IReadOnlyList<TaskExample> train, IReadOnlyList<TaskExample> other, string split)
    {
        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var r in train) seen.TryAdd(r.InputKey, r.Origin);
        int count = 0;
        var examples = new List<string>();
        foreach (var r in other)
        {
            if (!seen.TryGetValue(r.InputKey, out var where)) continue;
            count++;
            if (examples.Count < KeptExamples)
            {
                var text = r.Text.Length > 60 ? r.Text[..60] + "…" : r.Text;
                examples.Add($"{r.Origin} = {where}: \"{text.ReplaceLineEndings(" ")}\"");
            }
        }
        return new DuplicateReport(split, count, examples);
    }

    /// <inheritdoc/>
    public override string ToString() => Count == 0 ? $"{Split}: no rows duplicated from train"
        : $"{Split}: {Count} row{(Count == 1 ? "" : "s")} duplicated from train, first: " + string.Join("; ", FirstExamples);
}
