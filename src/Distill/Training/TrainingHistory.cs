namespace BitDistill.Distill.Training;

/// <summary>What a run produced: the loss curve and its named terms, validation results, the best one, and throughput.</summary>
public sealed class TrainingHistory
{
    /// <summary>(step, mean loss of the step).</summary>
    public List<(long Step, double Loss)> Loss { get; init; } = new();
    /// <summary>(step, the objective's named terms, e.g. ce / ld / ad).</summary>
    public List<(long Step, IReadOnlyDictionary<string, double> Terms)> Terms { get; init; } = new();
    /// <summary>(step, validation perplexity) of causal-LM runs.</summary>
    public List<(long Step, double Perplexity)> Validation { get; init; } = new();
    /// <summary>(step, result) of every validation.</summary>
    public List<(long Step, ValidationResult Result)> Validations { get; init; } = new();
    /// <summary>The best validation so far and its step (its model is in the run folder's best/).</summary>
    public (long Step, ValidationResult Result)? Best { get; set; }
    /// <summary>Training tokens per second (this process).</summary>
    public double TokensPerSecond { get; set; }
    /// <summary>Steps completed.</summary>
    public long StepsDone { get; set; }
    /// <summary>Whether the run continued from a checkpoint.</summary>
    public bool Resumed { get; set; }
}
