using BitDistill.Kernels;
using BitDistill.Tensors;

namespace BitDistill.Runtime;

/// <summary>Several sequences run through one <see cref="QwenRuntimeModel"/> at once: each has its own
/// <see cref="QwenInferenceSession"/> (KV cache, position, prefill buffers), and <see cref="Decode"/> advances any subset of them by
/// one token in a single forward pass whose projections see one row per sequence (one ternary GEMM instead of a GEMV each; the
/// weights are read once per step, not once per sequence). Attention and RoPE run per row on that row's own cache and position, so
/// no padding is needed and every sequence's logits are those of running it alone. All buffers are allocated here; a decode step
/// allocates nothing. Not thread-safe.</summary>
public sealed class QwenBatchSession
{
    private readonly QwenRuntimeModel _model;
    private readonly QwenInferenceSession[] _sequences;
    private readonly Tensor _h, _x, _q, _k, _v, _att, _gate, _up;   // [batch, width]
    private readonly Tensor[] _qRow, _kRow, _vRow, _attRow;         // row views of _q, _k, _v, _att ([1, width] each)
    private readonly Tensor _scores;
    private readonly Tensor _codes, _codeScales, _codeSums;
    private readonly Dictionary<int, Tensor> _subNormed = [];
    private readonly int[] _ids;

    internal QwenBatchSession(QwenRuntimeModel model, int batchSize, int maxSequenceLength, int prefillChunk)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        _model = model;
        var c = model.Config;
        _sequences = new QwenInferenceSession[batchSize];
        for (int i = 0; i < batchSize; i++) _sequences[i] = new QwenInferenceSession(model, maxSequenceLength, prefillChunk);
        using var _ = TensorScope.Suspend();
        int d = c.HeadDim, b = batchSize;
        _h = Buffer(b, c.HiddenSize); _x = Buffer(b, c.HiddenSize);
        _q = Buffer(b, c.NumAttentionHeads * d); _att = Buffer(b, c.NumAttentionHeads * d);
        _k = Buffer(b, c.NumKeyValueHeads * d); _v = Buffer(b, c.NumKeyValueHeads * d);
        _gate = Buffer(b, c.IntermediateSize); _up = Buffer(b, c.IntermediateSize);
        _qRow = Rows(_q); _kRow = Rows(_k); _vRow = Rows(_v); _attRow = Rows(_att);
        _scores = Buffer(Math.Max(1, Environment.ProcessorCount), maxSequenceLength);
        int widest = Math.Max(c.HiddenSize, Math.Max(c.NumAttentionHeads * d, c.IntermediateSize));
        bool ternary = model.Layers.Length > 0 && model.Layers[0].Wq.Ternary is not null;
        _codes = Tensor.Zeros([ternary ? b * widest : 0], DType.Int8, Device.Cpu);
        _codeScales = Tensor.Zeros([ternary ? b : 0], DType.Float32, Device.Cpu);
        _codeSums = Tensor.Zeros([ternary ? b : 0], DType.Int32, Device.Cpu);
        foreach (var layer in model.Layers)
            foreach (var p in layer.Projections())
                if (p.InputNorm is not null && !_subNormed.ContainsKey(p.InFeatures)) _subNormed[p.InFeatures] = Buffer(b, p.InFeatures);
        _ids = new int[b];
    }

    /// <summary>The model this batch runs.</summary>
    public QwenRuntimeModel Model => _model;
    /// <summary>Most sequences.</summary>
    public int BatchSize => _sequences.Length;
    /// <summary>Sequence <paramref name="index"/>: prefill it with <see cref="QwenInferenceSession.Append"/>, read its
    /// <see cref="QwenInferenceSession.Logits"/> after every step.</summary>
    public QwenInferenceSession this[int index] => _sequences[index];

    /// <summary>Feeds <paramref name="ids"/>[j] to sequence <paramref name="sequences"/>[j] (distinct indices) in one forward pass;
    /// each sequence's logits land in its <see cref="QwenInferenceSession.Logits"/>.</summary>
    public void Decode(ReadOnlySpan<int> sequences, ReadOnlySpan<int> ids)
    {
        int n = sequences.Length;
        if (ids.Length != n) throw new ArgumentException($"{ids.Length} token ids for {n} sequences", nameof(ids));
        if (n == 0) return;
        if (n > BatchSize) throw new ArgumentException($"{n} sequences in a batch of {BatchSize}", nameof(sequences));
        var c = _model.Config;
        for (int j = 0; j < n; j++)
        {
            if ((uint)sequences[j] >= (uint)BatchSize) throw new ArgumentOutOfRangeException(nameof(sequences), sequences[j], $"sequence index outside [0, {BatchSize})");
            for (int i = 0; i < j; i++)
                if (sequences[i] == sequences[j]) throw new ArgumentException($"sequence {sequences[j]} appears twice in one step", nameof(sequences));
            var s = _sequences[sequences[j]];
            if (s.Length == 0) throw new InvalidOperationException($"sequence {sequences[j]} has no prompt yet; Append one first");
            if (s.Length + 1 > s.MaxSequenceLength)
                throw new InvalidOperationException($"sequence {sequences[j]} holds {s.Length} positions, its maximum; create the batch with a larger maximum sequence length");
            if ((uint)ids[j] >= (uint)c.VocabSize) throw new ArgumentOutOfRangeException(nameof(ids), ids[j], $"token id outside the vocabulary [0, {c.VocabSize})");
        }
        float eps = (float)c.RmsNormEps;
        // as a prompt (see QwenInferenceSession.Append): a batch of ≥ TernarySgemmMinRows rows stays on the int8 kernels
        var ctx = KernelContext.Current;
        using var scope = n >= ctx.TernarySgemmMinRows && _model.IsTernary ? KernelContext.Use(ctx with { TernarySgemmMinRows = int.MaxValue }) : default;
        ids.CopyTo(_ids);
        InferenceOps.Embedding(_model.EmbedTokens, _model.EmbedScales, _ids.AsSpan(0, n), _h);
        for (int l = 0; l < _model.Layers.Length; l++)
        {
            var w = _model.Layers[l];
            InferenceOps.RmsNorm(_h, n, w.InputNorm, eps, _x);
            Project(w.Wq, _x, n, _q);
            Project(w.Wk, _x, n, _k);
            Project(w.Wv, _x, n, _v);
            if (w.QNorm is not null) InferenceOps.RmsNorm(_q, n, w.QNorm, eps, _q);
            if (w.KNorm is not null) InferenceOps.RmsNorm(_k, n, w.KNorm, eps, _k);
            for (int j = 0; j < n; j++)
            {
                // row j is the next position of its own sequence
                var s = _sequences[sequences[j]];
                int pos = s.Length;
                InferenceOps.Rope(_qRow[j], 1, s.Cos, s.Sin, pos);
                InferenceOps.Rope(_kRow[j], 1, s.Cos, s.Sin, pos);
                InferenceOps.WriteKeyValue(_kRow[j], _vRow[j], 1, s.KeyCache(l), s.ValueCache(l), pos);
                InferenceOps.CachedAttention(_qRow[j], 1, s.KeyCache(l), s.ValueCache(l), pos, _attRow[j], _scores);
            }
            Project(w.Wo, _att, n, _x);
            InferenceOps.AddInPlace(_h, _x, n);
            InferenceOps.RmsNorm(_h, n, w.PostNorm, eps, _x);
            Project(w.Gate, _x, n, _gate);
            Project(w.Up, _x, n, _up);
            InferenceOps.SwiGlu(_gate, _up, n, _gate);
            Project(w.Down, _gate, n, _x);
            InferenceOps.AddInPlace(_h, _x, n);
        }
        InferenceOps.RmsNorm(_h, n, _model.Norm, eps, _x);
        for (int j = 0; j < n; j++)
        {
            var s = _sequences[sequences[j]];
            // the head row by row, as the FP16/INT8 head runs anyway: each sequence's logits are its single-sequence logits
            InferenceOps.StoredLinear(_x, j, 1, _model.OutputWeight, _model.OutputScales, s.Logits, 0);
            s.Advance();
        }
    }

    private void Project(RuntimeProjection p, Tensor input, int n, Tensor output) =>
        QwenInferenceSession.Project(_model, p, input, n, output, _subNormed, _codes, _codeScales, _codeSums);

    private static Tensor Buffer(int rows, int width) => Tensor.Zeros([rows, width], DType.Float32, Device.Cpu);

    private static Tensor[] Rows(Tensor t)
    {
        var r = new Tensor[t.Shape[0]];
        for (int i = 0; i < r.Length; i++) r[i] = t.Narrow(0, i, 1);
        return r;
    }
}
