namespace BitDistill.Distill.Demo;

/// <summary>Settings of the embedded demo.</summary>
public sealed record DemoOptions
{
    /// <summary>The repository's data/ folder (copied next to the binaries): models/base, corpus/, tasks/.</summary>
    public required string DataDir { get; init; }
    /// <summary>Where the reports go (one folder per task, report.json/report.md/PNGs at the top).</summary>
    public required string OutputDir { get; init; }
    /// <summary>The same path on a small budget (about a minute on two cores; the tests use it).</summary>
    public bool Quick { get; init; }
    /// <summary>Adds the four ablations (no SubLN, no stage 2, LD only, AD only) and BitDistill with the GPTQ-/AWQ-style training quantisers.</summary>
    public bool Paper { get; init; }
    /// <summary>Seeds per method (null: 3, or 1 with <see cref="Quick"/>).</summary>
    public int? Seeds { get; init; }
    /// <summary>The first seed.</summary>
    public ulong Seed { get; init; } = 1;
    /// <summary>Only these shipped tasks (null: all three).</summary>
    public IReadOnlyList<string>? Tasks { get; init; }
    /// <summary>Progress output.</summary>
    public TextWriter Log { get; init; } = Console.Out;
    /// <summary>Ctrl-C / SIGTERM.</summary>
    public CancellationToken Cancellation { get; init; }
}
