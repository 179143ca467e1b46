using BitDistill.Distill.Training;
using BitDistill.Tensors;

namespace BitDistill.Distill.Recipes;

/// <summary>Students after stage 2, kept by (base model, stage-1 settings, corpus, stage-2 settings, seed): stage 2 does not
/// depend on the task, so a comparison over several tasks trains each such student once. Holds copies of the weights.</summary>
public sealed class Stage2Cache
{
    private readonly Dictionary<string, (Dictionary<string, Tensor> Weights, TrainingHistory? History, FlipRateTracker Flips)> _entries = new(StringComparer.Ordinal);

    /// <summary>Number of students held.</summary>
    public int Count => _entries.Count;

    /// <summary>The entry stored under <paramref name="key"/>, if any.</summary>
    public bool TryGet(string key, out Dictionary<string, Tensor> weights, out TrainingHistory? history, out FlipRateTracker flips)
    {
        if (_entries.TryGetValue(key, out var e)) { (weights, history, flips) = e; return true; }
        (weights, history, flips) = (null!, null, null!);
        return false;
    }

    /// <summary>Stores a copy of <paramref name="weights"/> under <paramref name="key"/>.</summary>
    public void Add(string key, IReadOnlyDictionary<string, Tensor> weights, TrainingHistory? history, FlipRateTracker flips) =>
        _entries[key] = (weights.ToDictionary(kv => kv.Key, kv => kv.Value.Clone(), StringComparer.Ordinal), history, flips);
}
