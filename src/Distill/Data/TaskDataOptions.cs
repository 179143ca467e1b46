namespace BitDistill.Distill.Data;

/// <summary>What to load for a task (the verbs' data flags): the files, the fields, bad-row handling, and the fractions of
/// train carved out (deterministically by <see cref="Seed"/>) for a validation or test set that has no file of its own.</summary>
public sealed record TaskDataOptions
{
    /// <summary>Classification or summarization.</summary>
    public required TaskKind Kind { get; init; }
    /// <summary><c>--train FILE</c>.</summary>
    public required string Train { get; init; }
    /// <summary><c>--validation FILE</c>; null = carve <see cref="ValidationFraction"/> of train.</summary>
    public string? Validation { get; init; }
    /// <summary><c>--test FILE</c>; null = carve <see cref="TestFraction"/> of train.</summary>
    public string? Test { get; init; }
    /// <summary>Field names; null ones are detected from the columns (<see cref="TaskFormats"/>).</summary>
    public TaskFields? Fields { get; init; }
    /// <summary><c>--skip-bad-rows</c>: count and report malformed rows instead of failing on the first.</summary>
    public bool SkipBadRows { get; init; }
    /// <summary>Fraction of train held out as validation when <see cref="Validation"/> is null (0 = none).</summary>
    public double ValidationFraction { get; init; } = 0.1;
    /// <summary>Fraction of train held out as test when <see cref="Test"/> is null (0 = none).</summary>
    public double TestFraction { get; init; } = 0.1;
    /// <summary>Seed of the held-out splits.</summary>
    public ulong Seed { get; init; }
    /// <summary>At most this many usable rows per file.</summary>
    public int MaxRows { get; init; } = int.MaxValue;
}
