
namespace BitDistill.Models.BitNet;

/// <summary>One layer's ternary statistics.</summary>
public sealed record TernaryLayerStats(string Name, double Minus, double Zero, double Plus, float[] Scales, double FlipRate);
