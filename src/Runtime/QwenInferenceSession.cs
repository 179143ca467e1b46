using BitDistill.Kernels;
using BitDistill.Tensors;

namespace BitDistill.Runtime;

/// <summary>One sequence being run through a <see cref="QwenRuntimeModel"/>: its KV cache, RoPE tables and every activation buffer,
/// all allocated when the session is created, so feeding tokens (<see cref="Append"/>, <see cref="Decode"/>) allocates nothing.
/// Not thread-safe: one session per sequence.</summary>
public sealed class QwenInferenceSession
{
    /// <summary>Prompt tokens processed per forward pass by default (one GEMM per projection per chunk).</summary>
    public const int DefaultPrefillChunk = 128;

    private readonly QwenRuntimeModel _model;
    private readonly Tensor[] _keys, _values;     // per layer [Hkv, capacity, D]
    private readonly Tensor _cos, _sin;           // [capacity, D]
    private readonly Tensor _h, _x, _q, _k, _v, _att, _gate, _up; // [chunk, width]
    private readonly Tensor _scores;              // [threads, capacity]: one attention score row per kernel thread
    private readonly int[] _oneId = new int[1];
    private readonly Tensor _codes, _codeScales, _codeSums;          // per-token INT8 activations of a ternary projection
    private readonly Dictionary<int, Tensor> _subNormed = [];        // SubLN output, one [chunk, width] buffer per input width

    internal QwenInferenceSession(QwenRuntimeModel model, int maxSequenceLength, int prefillChunk)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSequenceLength, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(prefillChunk, 1);
        _model = model;
        var c = model.Config;
        MaxSequenceLength = maxSequenceLength;
        PrefillChunk = Math.Min(prefillChunk, maxSequenceLength);
        int d = c.HeadDim, chunk = PrefillChunk;
        // long-lived: these must not come from (or go back to) the pool of a caller's TensorScope
        using var _ = TensorScope.Suspend();
        _keys = new Tensor[c.NumHiddenLayers]; _values = new Tensor[c.NumHiddenLayers];
        for (int i = 0; i < _keys.Length; i++)
        {
            _keys[i] = Tensor.Zeros([c.NumKeyValueHeads, maxSequenceLength, d], DType.Float32, Device.Cpu);
            _values[i] = Tensor.Zeros([c.NumKeyValueHeads, maxSequenceLength, d], DType.Float32, Device.Cpu);
        }
        (_cos, _sin) = RopeTables(maxSequenceLength, d, c.RopeTheta);
        _h = Buffer(chunk, c.HiddenSize); _x = Buffer(chunk, c.HiddenSize);
        _q = Buffer(chunk, c.NumAttentionHeads * d); _att = Buffer(chunk, c.NumAttentionHeads * d);
        _k = Buffer(chunk, c.NumKeyValueHeads * d); _v = Buffer(chunk, c.NumKeyValueHeads * d);
        _gate = Buffer(chunk, c.IntermediateSize); _up = Buffer(chunk, c.IntermediateSize);
        // one score row per core: the attention kernel never splits over more threads than it has rows for
        _scores = Buffer(Math.Max(1, Environment.ProcessorCount), maxSequenceLength);
        Logits = Tensor.Zeros([c.VocabSize], DType.Float32, Device.Cpu);
        int widest = Math.Max(c.HiddenSize, Math.Max(c.NumAttentionHeads * d, c.IntermediateSize));
        bool ternary = model.Layers.Length > 0 && model.Layers[0].Wq.Ternary is not null;
        _codes = Tensor.Zeros([ternary ? chunk * widest : 0], DType.Int8, Device.Cpu);
        _codeScales = Tensor.Zeros([ternary ? chunk : 0], DType.Float32, Device.Cpu);
        _codeSums = Tensor.Zeros([ternary ? chunk : 0], DType.Int32, Device.Cpu);
        foreach (var layer in model.Layers)
            foreach (var p in layer.Projections())
                if (p.InputNorm is not null && !_subNormed.ContainsKey(p.InFeatures)) _subNormed[p.InFeatures] = Buffer(chunk, p.InFeatures);
    }

    /// <summary>The model this session runs.</summary>
    public QwenRuntimeModel Model => _model;
    /// <summary>Most positions (prompt and generated) the cache holds.</summary>
    public int MaxSequenceLength { get; }
    /// <summary>Tokens processed per forward pass of a prompt.</summary>
    public int PrefillChunk { get; }
    /// <summary>Positions cached so far.</summary>
    public int Length { get; private set; }
    /// <summary>Logits [vocab] after the last token fed (overwritten by the next call; samplers modify them in place).</summary>
    public Tensor Logits { get; }

    /// <summary>Forgets the cached positions (buffers are kept).</summary>
    public void Reset() => Length = 0;

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
            if (allLogits is not null) InferenceOps.StoredLinear(_x, 0, n, _model.OutputWeight, _model.OutputScales, allLogits, start);
            if (start + n == ids.Length) InferenceOps.StoredLinear(_x, n - 1, 1, _model.OutputWeight, _model.OutputScales, Logits, 0);
        }
    }

    // One chunk of n tokens at positions Length.. : the decoder stack, leaving the final normed hidden states in _x.
    private void Forward(ReadOnlySpan<int> ids)
    {
        var c = _model.Config;
        int n = ids.Length, pos = Length;
        float eps = (float)c.RmsNormEps;
        InferenceOps.Embedding(_model.EmbedTokens, _model.EmbedScales, ids, _h);
        for (int l = 0; l < _model.Layers.Length; l++)
        {
            var w = _model.Layers[l];
            // h += o_proj(attention(rope(q_norm(q_proj(x))), rope(k_norm(k_proj(x))), v_proj(x)))  with x = input_layernorm(h)
            InferenceOps.RmsNorm(_h, n, w.InputNorm, eps, _x);
            Project(w.Wq, _x, n, _q);
            Project(w.Wk, _x, n, _k);
            Project(w.Wv, _x, n, _v);
            if (w.QNorm is not null) InferenceOps.RmsNorm(_q, n, w.QNorm, eps, _q);
            if (w.KNorm is not null) InferenceOps.RmsNorm(_k, n, w.KNorm, eps, _k);
            InferenceOps.Rope(_q, n, _cos, _sin, pos);
            InferenceOps.Rope(_k, n, _cos, _sin, pos);
            InferenceOps.WriteKeyValue(_k, _v, n, _keys[l], _values[l], pos);
            InferenceOps.CachedAttention(_q, n, _keys[l], _values[l], pos, _att, _scores);
            Project(w.Wo, _att, n, _x);
            InferenceOps.AddInPlace(_h, _x, n);
            // h += down_proj(silu(gate_proj(x)) · up_proj(x))  with x = post_attention_layernorm(h)
            InferenceOps.RmsNorm(_h, n, w.PostNorm, eps, _x);
            Project(w.Gate, _x, n, _gate);
            Project(w.Up, _x, n, _up);
            InferenceOps.SwiGlu(_gate, _up, n, _gate);
            Project(w.Down, _gate, n, _x);
            InferenceOps.AddInPlace(_h, _x, n);
        }
        InferenceOps.RmsNorm(_h, n, _model.Norm, eps, _x);
        Length = pos + n;
    }

    // output = p(input) on rows 0..n: SubLN first where the model has it, then the ternary×INT8 product (exported models) or
    // the float GEMV/GEMM, as the training model's BitLinear / Linear computes it.
    private void Project(RuntimeProjection p, Tensor input, int n, Tensor output) =>
        Project(_model, p, input, n, output, _subNormed, _codes, _codeScales, _codeSums);

    /// <summary>One projection on rows 0..n with the caller's scratch (shared by single-sequence and batched forwards).</summary>
    internal static void Project(QwenRuntimeModel model, RuntimeProjection p, Tensor input, int n, Tensor output,
        Dictionary<int, Tensor> subNormed, Tensor codes, Tensor codeScales, Tensor codeSums)
    {
        var x = input;
        if (p.InputNorm is not null)
        {
            x = subNormed[p.InFeatures];
            InferenceOps.RmsNorm(input, n, p.InputNorm, model.SubLnEps, x);
        }
        if (p.Ternary is not null) InferenceOps.TernaryLinear(x, n, p.Ternary, p.Bias, output, codes, codeScales, codeSums);
        else InferenceOps.Linear(x, n, p.Weight!, p.Bias, output);
    }

    // for QwenBatchSession's decode step: this sequence's cache and tables, and one position more once it has written them
    internal Tensor KeyCache(int layer) => _keys[layer];
    internal Tensor ValueCache(int layer) => _values[layer];
    internal Tensor Cos => _cos;
    internal Tensor Sin => _sin;
    internal void Advance() => Length++;

    private static Tensor Buffer(int rows, int width) => Tensor.Zeros([rows, width], DType.Float32, Device.Cpu);

    // As Models' RotaryEmbedding (rotate-half): inv_freq_i = 1/θ^(2i/d), angle = p·inv_freq_i in double, cos/sin rounded once to
    // float and repeated over both halves, so the tables equal the training model's bit for bit.
    private static (Tensor Cos, Tensor Sin) RopeTables(int positions, int d, double theta)
    {
        int h = d / 2;
        var invFreq = new double[h];
        for (int i = 0; i < h; i++) invFreq[i] = 1.0 / Math.Pow(theta, 2.0 * i / d);
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
