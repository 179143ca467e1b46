namespace BitDistill.Distill.Comparison;

/// <summary>A metric over seeds: the mean and its 95 % Student-t confidence interval (one seed: the value itself).</summary>
public sealed record MetricSummary(string Metric, double Mean, double Lo, double Hi, int Seeds);
