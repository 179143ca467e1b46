namespace BitDistill.Distill.Demo;

/// <summary>One row of the demo's table.</summary>
public sealed record DemoRow(string Model, long Parameters, double Perplexity, double TokensPerSecond, double WeightMegabytes);
