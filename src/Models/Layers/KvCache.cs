namespace BitDistill.Models.Layers;

/// <summary>One <see cref="LayerKvCache"/> per decoder layer.</summary>
public sealed class KvCache
{
    /// <summary>An empty cache for <paramref name="layers"/> layers, each preallocated for <paramref name="capacity"/> positions
    /// on the first step (0: exactly the first step's length, then doubling).</summary>
    public KvCache(int layers, int capacity = 0) => Layers = Enumerable.Range(0, layers).Select(_ => new LayerKvCache(capacity)).ToArray();
    /// <summary>The per-layer caches.</summary>
    public IReadOnlyList<LayerKvCache> Layers { get; }
    /// <summary>Number of cached positions.</summary>
    public int Length => Layers.Count == 0 ? 0 : Layers[0].Length;
    /// <summary>Forgets every layer's cached positions (buffers are kept).</summary>
    public void Clear() { foreach (var l in Layers) l.Clear(); }
}
