namespace BitDistill.Distill.Training;

/// <summary>The loss became NaN or infinite: the run stopped before the optimizer applied that step, and the last good
/// checkpoint is kept. The message names the step and every loss term.</summary>
public sealed class TrainingDivergedException(string message) : Exception(message);
