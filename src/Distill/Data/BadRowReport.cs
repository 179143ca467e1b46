namespace BitDistill.Distill.Data;

/// <summary>Rows of one file that were skipped (with <c>--skip-bad-rows</c>): how many, and the first few messages (each
/// naming file, line or row, and field).</summary>
public sealed record BadRowReport(string Path, int Count, IReadOnlyList<string> FirstMessages)
{
    /// <inheritdoc/>
    public override string ToString() => Count == 0 ? $"{Path}: no bad rows"
        : $"{Path}: skipped {Count} bad row{(Count == 1 ? "" : "s")}, first: " + string.Join("; ", FirstMessages);
}
