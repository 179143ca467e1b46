using BitDistill.Kernels;
using BitDistill.Tensors;

namespace BitDistill.Runtime;

/// <summary>Several sequences run through one <see cref="RuntimeModel"/> at once: each has its own <see cref="InferenceSession"/>
/// (KV cache, position, prefill buffers), and <see cref="Decode"/> advances any subset of them by one token in a single forward
/// pass whose projections see one row per sequence (one ternary GEMM instead of a GEMV each; the weights are read once per step,
/// not once per sequence). Attention and RoPE run per row on that row's own cache and position, so no padding is needed and every
/// sequence's logits are those of running it alone. All buffers are allocated here; a decode step allocates nothing. Not
/// thread-safe.</summary>
public sealed class BatchSession
{
    private readonly RuntimeModel _model;
    private readonly InferenceSession[] _sequences;
    private readonly ForwardBuffers _buffers;                     // [batch, width]
    private readonly Tensor[] _qRow, _kRow, _vRow, _attRow;       // row views of the buffers' Q, K, V, Attention ([1, width] each)
    private readonly int[] _ids;

    internal BatchSession(RuntimeModel model, int batchSize, int maxSequenceLength, int prefillChunk, DType kvCache)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        _model = model;
        _sequences = new InferenceSession[batchSize];
        for (int i = 0; i < batchSize; i++) _sequences[i] = new InferenceSession(model, maxSequenceLength, prefillChunk, kvCache);
        _buffers = new ForwardBuffers(model, batchSize);
        using var _ = TensorScope.Suspend();
        _qRow = Rows(_buffers.Q); _kRow = Rows(_buffers.K); _vRow = Rows(_buffers.V); _attRow = Rows(_buffers.Attention);
        _ids = new int[batchSize];
    }

    /// <summary>The model this batch runs.</summary>
    public RuntimeModel Model => _model;
    /// <summary>Most sequences.</summary>
    public int BatchSize => _sequences.Length;
    /// <summary>Sequence <paramref name="index"/>: prefill it with <see cref="InferenceSession.Append"/>, read its
    /// <see cref="InferenceSession.Logits"/> after every step.</summary>
    public InferenceSession this[int index] => _sequences[index];

    /// <summary>Feeds <paramref name="ids"/>[j] to sequence <paramref name="sequences"/>[j] (distinct indices) in one forward pass;
    /// each sequence's logits land in its <see cref="InferenceSession.Logits"/>.</summary>
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
        // as a prompt (see InferenceSession.Append): a batch of ≥ TernarySgemmMinRows rows stays on the int8 kernels
        var ctx = KernelContext.Current;
        using var scope = n >= ctx.TernarySgemmMinRows && _model.IsTernary ? KernelContext.Use(ctx with { TernarySgemmMinRows = int.MaxValue }) : default;
        var b = _buffers;
        ids.CopyTo(_ids);
        b.Embed(_ids.AsSpan(0, n));
        for (int l = 0; l < _model.Layers.Length; l++)
        {
            var w = _model.Layers[l];
            b.QueryKeyValue(w, n);
            for (int j = 0; j < n; j++)
            {
                // row j is the next position of its own sequence
                var s = _sequences[sequences[j]];
                var (cos, sin) = s.Rope(l);
                InferenceOps.Rope(_qRow[j], 1, cos, sin, s.Length);
                InferenceOps.Rope(_kRow[j], 1, cos, sin, s.Length);
                s.Attend(l, _qRow[j], _kRow[j], _vRow[j], 1, _attRow[j]);
            }
            b.Finish(w, n);
        }
        b.FinalNorm(n);
        for (int j = 0; j < n; j++)
        {
            var s = _sequences[sequences[j]];
            // the head row by row, as the FP16/INT8 head runs anyway: each sequence's logits are its single-sequence logits
            b.Logits(j, 1, s.Logits, 0);
            s.Advance();
        }
    }

    private static Tensor[] Rows(Tensor t)
    {
        var r = new Tensor[t.Shape[0]];
        for (int i = 0; i < r.Length; i++) r[i] = t.Narrow(0, i, 1);
        return r;
    }
}
