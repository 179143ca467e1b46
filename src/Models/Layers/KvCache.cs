namespace BitDistill.Models.Layers;

/// <summary>One <see cref="LayerKvCache"/> per decoder layer.</summary>
public sealed class KvCache
{
    /// <summary>An empty cache for <paramref name="layers"/> layers, each preallocated for <paramref name="capacity"/> positions
    /// on the first step (0: exactly the first step's length, then doubling).</summary>
    public KvCache(int layers, int capacity = 0) => Layers = Enumerable.Range(0, layers).Select(_ => new LayerKvCache(capacity)).ToArray();

    /// <summary>A cache from per-layer caches (e.g. sliding-window layers bounded by their window).</summary>
    public KvCache(IEnumerable<LayerKvCache> layers) => Layers = layers.ToArray();
    /// <summary>The per-layer caches.</summary>
    public IReadOnlyList<LayerKvCache> Layers { get; }
    /// <summary>Positions seen so far (the position of the next token), whether or not a sliding-window layer still caches them.</summary>
    public int Length => Layers.Count == 0 ? 0 : Layers[0].Position;
    /// <summary>Forgets every layer's cached positions (buffers are kept).</summary>
    public void Clear() { foreach (var l in Layers) l.Clear(); }
}
