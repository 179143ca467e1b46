namespace BitDistill.Distill.Training;

/// <summary>Settings of a causal-LM training run.</summary>
public sealed record TrainingOptions
{
    public int Steps { get; init; } = 1000;
    public int BatchSize { get; init; } = 8;
    public int SeqLen { get; init; } = 128;
    /// <summary>Micro-batches per optimizer step on each process (gradients are accumulated; each micro-batch has BatchSize
    /// rows); under MPI a step covers GradAccumulation × ranks micro-batches.</summary>
    public int GradAccumulation { get; init; } = 1;
    public float LearningRate { get; init; } = 3e-3f;
    /// <summary>Linear warm-up steps before the cosine decay.</summary>
    public int WarmupSteps { get; init; } = 50;
    /// <summary>Cosine decays to this fraction of the peak rate.</summary>
    public double MinLrRatio { get; init; } = 0.1;
    public float WeightDecay { get; init; } = 0.1f;
    public double ClipNorm { get; init; } = 1.0;
    public ulong Seed { get; init; } = 1;
    /// <summary>Evaluate validation perplexity every N steps (0 = only at the end).</summary>
    public int EvalEvery { get; init; } = 100;
    /// <summary>Validation windows per evaluation.</summary>
    public int EvalWindows { get; init; } = 64;
    /// <summary>Folder for checkpoints (null = none). An existing checkpoint there is resumed.</summary>
    public string? CheckpointDir { get; init; }
    public int CheckpointEvery { get; init; } = 200;
    /// <summary>Print a progress line every N steps.</summary>
    public int LogEvery { get; init; } = 10;
    /// <summary>Where progress goes (null = silent).</summary>
    public TextWriter? Log { get; init; }
    /// <summary>A label for log lines.</summary>
    public string Name { get; init; } = "train";
    /// <summary>Cancelled by Ctrl-C / SIGTERM: the run writes a checkpoint at the next step boundary and stops with
    /// <see cref="OperationCanceledException"/> (resume continues from there).</summary>
    public CancellationToken Cancellation { get; init; }
    /// <summary>Called after each optimizer step with the step number (e.g. quantisation warm-up, diagnostics).</summary>
    public Action<long>? OnStep { get; init; }
}
