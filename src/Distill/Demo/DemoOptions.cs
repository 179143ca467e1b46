namespace BitDistill.Distill.Demo;

/// <summary>Settings of the embedded demo.</summary>
public sealed record DemoOptions
{
    /// <summary>Folder with corpus/ and tokenizer/ (the repository's data/ folder, copied next to the binaries).</summary>
    public required string DataDir { get; init; }
    /// <summary>Where models, plots and results.json go.</summary>
    public required string OutputDir { get; init; }
    /// <summary>A shorter run (about a minute on two cores).</summary>
    public bool Quick { get; init; }
    public ulong Seed { get; init; } = 1;
    public TextWriter Log { get; init; } = Console.Out;
}
