using BitDistill.Autograd;
using BitDistill.Tensors;

namespace BitDistill.Models.Layers;

/// <summary>The keys and values a layer has seen so far, for incremental decoding without recomputing the prefix: preallocated
/// buffers [B, Hkv, capacity, D] that each step writes into in place; attention reads the filled prefix [B, Hkv, Length, D] as a
/// view (no copy). A cache that runs out of room grows by doubling (amortised O(1) per token); give the capacity up front
/// (prompt + new tokens) and it never grows. A sliding-window layer's cache (<see cref="Window"/> &gt; 0) keeps only what its
/// window can still see: when it would pass 2·window positions it moves the newest window − 1 to the front, so its memory
/// stays within 2·window (plus one step's length) however long the generation, at amortised O(1) copying per token. Inference
/// only: keys and values are stored without gradient history.</summary>
public sealed class LayerKvCache
{
    private Tensor? _k, _v;

    /// <summary>An empty cache that will hold <paramref name="capacity"/> positions before it grows (0: sized by the first step);
    /// <paramref name="window"/> &gt; 0 bounds it for a sliding-window layer whose queries see that many positions.</summary>
    public LayerKvCache(int capacity = 0, int window = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capacity);
        ArgumentOutOfRangeException.ThrowIfNegative(window);
        InitialCapacity = capacity;
        Window = window;
    }

    /// <summary>Positions a query sees (0: all, a global layer).</summary>
    public int Window { get; }
    /// <summary>Positions dropped from the front because no later query can see them (always 0 for a global layer).</summary>
    public int Dropped { get; private set; }
    /// <summary>Positions seen so far, cached or dropped: the position of the next token.</summary>
    public int Position => Dropped + Length;

    /// <summary>Positions the buffers are first allocated for.</summary>
    public int InitialCapacity { get; }
    /// <summary>Positions the current buffers can hold (0 before the first step).</summary>
    public int Capacity => _k?.Size(2) ?? 0;
    /// <summary>Number of cached positions.</summary>
    public int Length { get; private set; }
    /// <summary>Times the buffers were reallocated to grow (0 when the capacity was large enough).</summary>
    public int Reallocations { get; private set; }
    /// <summary>Cached keys after RoPE [B, Hkv, Length, D] (a view of the buffer), or null before the first step.</summary>
    public Variable? Keys => _k is null ? null : new Variable(_k.Narrow(2, 0, Length));
    /// <summary>Cached values [B, Hkv, Length, D] (a view of the buffer), or null before the first step.</summary>
    public Variable? Values => _v is null ? null : new Variable(_v.Narrow(2, 0, Length));

    /// <summary>Writes this step's keys and values k, v [B, Hkv, T, D] after the cached ones and returns views of everything cached
    /// so far [B, Hkv, Length + T, D]. Throws when gradients are being recorded (the cache would silently cut them).</summary>
    public (Variable Keys, Variable Values) Append(Variable k, Variable v)
    {
        if (Function.Recording(k, v))
            throw new InvalidOperationException("the KV cache is for inference: run the forward under GradMode.NoGrad() (gradients cannot flow through cached keys/values)");
        if (k.Rank != 4 || !k.Shape.SequenceEqual(v.Shape))
            throw new ArgumentException($"KV cache expects keys and values [B, Hkv, T, D] of one shape, got {Tensor.ShapeString(k.Shape)} and {Tensor.ShapeString(v.Shape)}");
        int b = k.Size(0), h = k.Size(1), t = k.Size(2), d = k.Size(3);
        if (_k is not null && (_k.Size(0) != b || _k.Size(1) != h || _k.Size(3) != d))
            throw new ArgumentException($"KV cache holds [{_k.Size(0)}, {_k.Size(1)}, ·, {_k.Size(3)}], this step has {Tensor.ShapeString(k.Shape)}");
        if (Window > 0 && _k is not null && Length > Window - 1 && Length + t > 2 * Window)
        {
            // the next queries (positions Position … Position + t − 1) see at most the newest window − 1 cached keys
            int keep = Window - 1, drop = Length - keep;
            using (TensorScope.Suspend())
                foreach (var buffer in new[] { _k, _v! })
                {
                    var tail = buffer.Narrow(2, drop, keep);
                    buffer.Narrow(2, 0, keep).CopyFrom(keep <= drop ? tail : tail.Clone()); // the copy may overlap its source
                }
            Dropped += drop;
            Length = keep;
        }
        int need = Length + t;
        if (_k is null || need > _k.Size(2))
        {
            int grown = _k is null ? InitialCapacity : 2 * _k.Size(2);
            int cap = Math.Max(need, Window > 0 ? Math.Min(grown, 2 * Window) : grown);
            // long-lived: must not come from (and go back to) the pool of the forward's TensorScope
            using (TensorScope.Suspend())
            {
                var nk = Tensor.Zeros([b, h, cap, d], DType.Float32, k.Value.Device);
                var nv = Tensor.Zeros([b, h, cap, d], DType.Float32, k.Value.Device);
                if (_k is not null && _v is not null && Length > 0)
                {
                    nk.Narrow(2, 0, Length).CopyFrom(_k.Narrow(2, 0, Length));
                    nv.Narrow(2, 0, Length).CopyFrom(_v.Narrow(2, 0, Length));
                    Reallocations++;
                }
                _k = nk; _v = nv;
            }
        }
        _k.Narrow(2, Length, t).CopyFrom(k.Value);
        _v!.Narrow(2, Length, t).CopyFrom(v.Value);
        Length = need;
        return (new Variable(_k.Narrow(2, 0, Length)), new Variable(_v.Narrow(2, 0, Length)));
    }

    /// <summary>Forgets the cached positions (the buffers are kept for reuse).</summary>
    public void Clear() { Length = 0; Dropped = 0; }
}
