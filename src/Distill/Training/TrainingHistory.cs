namespace BitDistill.Distill.Training;

/// <summary>What a run produced: the loss curve, validation perplexities and throughput.</summary>
public sealed class TrainingHistory
{
    public List<(long Step, double Loss)> Loss { get; init; } = new();
    public List<(long Step, double Perplexity)> Validation { get; init; } = new();
    public double TokensPerSecond { get; set; }
    public long StepsDone { get; set; }
    public bool Resumed { get; set; }
}
