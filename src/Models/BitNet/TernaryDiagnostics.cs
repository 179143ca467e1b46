
namespace BitDistill.Models.BitNet;

/// <summary>Diagnostics over a ternary model: per layer, the share of −1/0/+1 weights, the scale(s), and the flip rate since the
/// previous snapshot (the paper argues that continued pre-training makes weights flip more easily).</summary>
public static class TernaryDiagnostics
{
    /// <summary>Statistics of every BitLinear; each call also takes a new flip-rate snapshot.</summary>
    public static IReadOnlyList<TernaryLayerStats> Snapshot(Autograd.Module model) => Refiner.BitLinears(model).Select(x =>
    {
        var (m, z, p) = x.Layer.TernaryShares();
        return new TernaryLayerStats(x.Name, m, z, p, x.Layer.Scales(), x.Layer.FlipRateSinceSnapshot());
    }).ToArray();
}
