namespace BitDistill.Distill.Data;

/// <summary>One raw record of a table file: cell values by column name (null = null/absent), where it is
/// (<see cref="Origin"/>: "file:line", "file: element N" or "file: row N"), a row-level problem when the record itself is
/// malformed (wrong number of fields, malformed JSON), and per-field problems (a JSON value that is not a scalar).</summary>
public sealed record TableRow(IReadOnlyDictionary<string, string?> Values, string Origin, string? Problem = null,
    IReadOnlyDictionary<string, string>? FieldProblems = null);
