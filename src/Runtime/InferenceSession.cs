using BitDistill.Kernels;
using BitDistill.Tensors;

namespace BitDistill.Runtime;

/// <summary>One sequence being run through a <see cref="RuntimeModel"/>: its KV cache, RoPE tables and every activation buffer,
/// all allocated when the session is created, so feeding tokens (<see cref="Append"/>, <see cref="Decode"/>) allocates nothing.
/// A sliding-window layer's cache is bounded (its window, a prefill chunk and as much slack again): when full, the keys no query
/// can see any more are dropped by moving the last window − 1 to the front (amortised O(1) copies per token). Not thread-safe:
/// one session per sequence.</summary>
public sealed class InferenceSession
{
    /// <summary>Prompt tokens processed per forward pass by default (one GEMM per projection per chunk).</summary>
    public const int DefaultPrefillChunk = 128;

    private readonly RuntimeModel _model;
    private readonly Tensor[] _keys, _values;     // per layer [Hkv, capacity, D]: every position, or a sliding layer's last ones
    private readonly int[] _cacheStart;           // per layer: the position held in cache slot 0
    private readonly Tensor _cos, _sin;           // [max length, D]: global layers' RoPE
    private readonly Tensor _localCos, _localSin; // sliding-window layers' RoPE (the same tables when the bases agree)
    private readonly ForwardBuffers _buffers;     // [chunk, width] activations
    private readonly Tensor _scores;              // [threads, CachedAttention.ScratchPerThread]: attention scratch per kernel thread
    private readonly int[] _oneId = new int[1];

    internal InferenceSession(RuntimeModel model, int maxSequenceLength, int prefillChunk, DType kvCache = DType.Float32)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSequenceLength, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(prefillChunk, 1);
        if (kvCache is not (DType.Float32 or DType.Float16)) throw new ArgumentException($"the KV cache is Float32 or Float16, not {kvCache}", nameof(kvCache));
        _model = model;
        KvCacheType = kvCache;
        var c = model.Config;
        MaxSequenceLength = maxSequenceLength;
        PrefillChunk = Math.Min(prefillChunk, maxSequenceLength);
        int d = c.HeadDim;
        _buffers = new ForwardBuffers(model, PrefillChunk);
        // long-lived: these must not come from (or go back to) the pool of a caller's TensorScope
        using var _ = TensorScope.Suspend();
        _keys = new Tensor[c.NumHiddenLayers]; _values = new Tensor[c.NumHiddenLayers];
        _cacheStart = new int[c.NumHiddenLayers];
        for (int i = 0; i < _keys.Length; i++)
        {
            int window = model.Layers[i].Window;
            // a chunk's queries see window − 1 older keys; as much slack again keeps the moves rare
            int capacity = window > 0 ? (int)Math.Min(maxSequenceLength, 2L * window + PrefillChunk) : maxSequenceLength;
            _keys[i] = Tensor.Zeros([c.NumKeyValueHeads, capacity, d], kvCache, Device.Cpu);
            _values[i] = Tensor.Zeros([c.NumKeyValueHeads, capacity, d], kvCache, Device.Cpu);
        }
        (_cos, _sin) = RopeTables(maxSequenceLength, d, c.RopeTheta, c.RopeScalingFactor);
        bool localTables = model.Layers.Any(l => l.Window > 0) && (c.LocalRopeTheta != c.RopeTheta || c.RopeScalingFactor != 1);
        (_localCos, _localSin) = localTables ? RopeTables(maxSequenceLength, d, c.LocalRopeTheta, 1) : (_cos, _sin);
        // the attention kernel's scratch for each core (it never splits over more threads than it has scratch for)
        _scores = Tensor.Zeros([Math.Max(1, Environment.ProcessorCount), CachedAttention.ScratchPerThread(c.NumAttentionHeads, c.NumKeyValueHeads, d, kvCache == DType.Float16)], DType.Float32, Device.Cpu);
        Logits = Tensor.Zeros([c.VocabSize], DType.Float32, Device.Cpu);
    }

    /// <summary>The model this session runs.</summary>
    public RuntimeModel Model => _model;
    /// <summary>Most positions (prompt and generated) the session holds.</summary>
    public int MaxSequenceLength { get; }
    /// <summary>Tokens processed per forward pass of a prompt.</summary>
    public int PrefillChunk { get; }
    /// <summary>Positions seen so far (a sliding-window layer keeps only the newest of them).</summary>
    public int Length { get; private set; }
    /// <summary>Element type of the KV cache: Float32 (the default: the same answers as the training model), or Float16 (half
    /// the memory; keys and values rounded to the nearest half, as llama.cpp's default cache).</summary>
    public DType KvCacheType { get; }
    /// <summary>Bytes of the KV cache (keys and values of every layer, allocated at creation).</summary>
    public long KvCacheBytes => 2 * _keys.Sum(k => (long)k.Count) * KvCacheType.SizeOf();
    /// <summary>Logits [vocab] after the last token fed (overwritten by the next call; samplers modify them in place).</summary>
    public Tensor Logits { get; }

    /// <summary>Forgets the cached positions (buffers are kept).</summary>
    public void Reset()
    {
        Length = 0;
        Array.Clear(_cacheStart);
    }

    /// <summary>Forgets every position from <paramref name="length"/> on and keeps the ones before: a shared prefix (a system
    /// prompt) is processed once and each continuation appended after it. A sliding-window layer that has dropped positions
    /// before <paramref name="length"/> cannot go back that far.</summary>
    public void Truncate(int length)
    {
        if (length < 0 || length > Length) throw new ArgumentOutOfRangeException(nameof(length), length, $"the session holds {Length} positions; keep between 0 and {Length}");
        for (int l = 0; l < _cacheStart.Length; l++)
            if (length > 0 && length < _cacheStart[l] + _model.Layers[l].Window - 1 && _cacheStart[l] > 0)
                throw new InvalidOperationException($"layer {l} keeps positions from {_cacheStart[l]} on only (a sliding window of {_model.Layers[l].Window}); it cannot go back to {length} positions");
        if (length == 0) { Reset(); return; }
        Length = length;
    }

    /// <summary>Feeds one token (a decode step): its logits land in <see cref="Logits"/>.</summary>
    public void Decode(int id)
    {
        _oneId[0] = id;
        Append(_oneId, null);
    }

    /// <summary>Feeds tokens after the cached ones (a prompt, all at once through GEMMs, in chunks of <see cref="PrefillChunk"/>);
    /// the last one's logits land in <see cref="Logits"/>, and with <paramref name="allLogits"/> [≥ ids, vocab] every token's
    /// logits land in its rows (for checks).</summary>
    public void Append(ReadOnlySpan<int> ids, Tensor? allLogits = null)
    {
        var c = _model.Config;
        if (ids.Length == 0) throw new ArgumentException("no token ids to process", nameof(ids));
        if (Length + ids.Length > MaxSequenceLength)
            throw new InvalidOperationException($"{Length} cached + {ids.Length} new positions exceed the session's maximum sequence length {MaxSequenceLength}; create the session with a larger one");
        for (int i = 0; i < ids.Length; i++)
            if ((uint)ids[i] >= (uint)c.VocabSize)
                throw new ArgumentOutOfRangeException(nameof(ids), ids[i], $"token id {ids[i]} at index {i} is outside the vocabulary [0, {c.VocabSize})");
        // A prompt stays on the int8 ternary kernels: the SGEMM path (KernelContext.TernarySgemmMinRows) unpacks every weight
        // matrix to floats per call, which training amortises over thousands of rows but a 128-token chunk does not (measured at
        // the Qwen3-0.6B shape, 1 thread: 39 tokens/s through SGEMM, 110 through the int8 GEMM; the results are bit-identical).
        // Decode steps (one row) never reach that path, so they allocate nothing here.
        var ctx = KernelContext.Current;
        using var scope = Math.Min(ids.Length, PrefillChunk) >= ctx.TernarySgemmMinRows && _model.IsTernary
            ? KernelContext.Use(ctx with { TernarySgemmMinRows = int.MaxValue }) : default;
        for (int start = 0; start < ids.Length; start += PrefillChunk)
        {
            int n = Math.Min(PrefillChunk, ids.Length - start);
            Forward(ids.Slice(start, n));
            if (allLogits is not null) _buffers.Logits(0, n, allLogits, start);
            if (start + n == ids.Length) _buffers.Logits(n - 1, 1, Logits, 0);
        }
    }

    // One chunk of n tokens at positions Length.. : the decoder stack, leaving the final normed hidden states in the buffers' X.
    private void Forward(ReadOnlySpan<int> ids)
    {
        var b = _buffers;
        int n = ids.Length, pos = Length;
        b.Embed(ids);
        for (int l = 0; l < _model.Layers.Length; l++)
        {
            var w = _model.Layers[l];
            b.QueryKeyValue(w, n);
            var (cos, sin) = Rope(l);
            InferenceOps.Rope(b.Q, n, cos, sin, pos);
            InferenceOps.Rope(b.K, n, cos, sin, pos);
            Attend(l, b.Q, b.K, b.V, n, b.Attention);
            b.Finish(w, n);
        }
        b.FinalNorm(n);
        Length = pos + n;
    }

    /// <summary>Writes n new keys and values at positions Length.. into layer <paramref name="layer"/>'s cache and runs attention
    /// of the n queries over it (shared by <see cref="BatchSession"/>, one row at a time).</summary>
    internal void Attend(int layer, Tensor q, Tensor k, Tensor v, int n, Tensor output)
    {
        var w = _model.Layers[layer];
        var c = _model.Config;
        int slot = Reserve(layer, n);
        InferenceOps.WriteKeyValue(k, v, n, _keys[layer], _values[layer], slot);
        InferenceOps.CachedAttention(q, n, _keys[layer], _values[layer], slot, output, _scores, c.AttentionScale, w.Window, c.AttentionSoftcap);
    }

    // The cache slot of position Length in layer `layer`, after making room for n more: a sliding layer whose cache is full keeps
    // only the last window − 1 positions (all the next queries can see of the past) and moves them to the front.
    private int Reserve(int layer, int n)
    {
        int slot = Length - _cacheStart[layer], capacity = _keys[layer].Shape[1];
        if (slot + n <= capacity) return slot;
        int keep = Math.Max(_cacheStart[layer], Length - _model.Layers[layer].Window + 1);
        InferenceOps.ShiftCache(_keys[layer], _values[layer], keep - _cacheStart[layer], Length - keep);
        _cacheStart[layer] = keep;
        return Length - keep;
    }

    // for BatchSession's decode step: this sequence's RoPE tables, and one position more once every layer has attended
    internal (Tensor Cos, Tensor Sin) Rope(int layer) => _model.Layers[layer].Window > 0 ? (_localCos, _localSin) : (_cos, _sin);
    internal void Advance() => Length++;

    // As Models' RotaryEmbedding (rotate-half): inv_freq_i = 1/θ^(2i/d)/scaling, angle = p·inv_freq_i in double, cos/sin rounded
    // once to float and repeated over both halves, so the tables equal the training model's bit for bit.
    private static (Tensor Cos, Tensor Sin) RopeTables(int positions, int d, double theta, double scaling)
    {
        int h = d / 2;
        var invFreq = new double[h];
        for (int i = 0; i < h; i++) invFreq[i] = 1.0 / Math.Pow(theta, 2.0 * i / d) / scaling;
        var cos = new float[positions * d];
        var sin = new float[positions * d];
        for (int p = 0; p < positions; p++)
            for (int i = 0; i < h; i++)
            {
                double a = p * invFreq[i];
                cos[p * d + i] = cos[p * d + i + h] = (float)Math.Cos(a);
                sin[p * d + i] = sin[p * d + i + h] = (float)Math.Sin(a);
            }
        return (Tensor.FromArray(cos, [positions, d], Device.Cpu), Tensor.FromArray(sin, [positions, d], Device.Cpu));
    }
}
