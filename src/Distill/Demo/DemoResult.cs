using BitDistill.Distill.Comparison;

namespace BitDistill.Distill.Demo;

/// <summary>What the demo measured: one comparison per shipped task, and the wall time.</summary>
public sealed record DemoResult(IReadOnlyList<(string Task, ComparisonResult Result)> Tasks, TimeSpan Elapsed);
