using BitDistill.Distill.Objectives;

namespace BitDistill.Distill.Training;

/// <summary>Deterministic training batches: index i gives the same batch in every run and on resume, so an interrupted run
/// continues exactly where it stopped (the data position is the step).</summary>
public interface IBatchSource
{
    /// <summary>The i-th micro-batch.</summary>
    TrainingBatch Get(long index);
    /// <summary>Tokens per micro-batch (for tokens/s and ETA).</summary>
    long TokensPerBatch { get; }
    /// <summary>Identifies the data and its batching (checked when a run resumes).</summary>
    string Fingerprint { get; }
}
