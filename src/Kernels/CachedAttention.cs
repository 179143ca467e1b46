using System.Numerics.Tensors;

namespace BitDistill.Kernels;

/// <summary>Causal grouped-query attention of a run of new queries over a KV cache, for inference: q and o are [T, H·D] (the
/// rows the projections write, no transpose), keys and values [Hkv, capacity, D] with the first past + T positions filled, and
/// query i sits at position past + i. Scores live in caller-provided scratch and work is dispatched to the thread team through a
/// function pointer, so a decode step allocates nothing (the training kernel, <see cref="AttentionKernels"/>, allocates its
/// score blocks per call). Options for Gemma-style layers: the score scale, a sliding window (query i sees only the keys less
/// than <c>window</c> positions back, itself included) and soft-capping of the scores (cap·tanh(score/cap)).</summary>
public static unsafe class CachedAttention
{
    /// <summary>Keys past + T and the scratch it needs: one row of <paramref name="capacity"/> floats per thread used.</summary>
    public static void Forward(int heads, int kvHeads, int headDim, int capacity, int past, int queries,
        ReadOnlySpan<float> q, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, Span<float> output, Span<float> scratch) =>
        Forward(heads, kvHeads, headDim, capacity, past, queries, q, keys, values, output, scratch, 1f / MathF.Sqrt(headDim), 0, 0f);

    /// <summary>As the overload without options, with scores scaled by <paramref name="scale"/>, only the keys less than
    /// <paramref name="window"/> positions back visible (0: all), and scores soft-capped at <paramref name="softcap"/> (0: none).</summary>
    public static void Forward(int heads, int kvHeads, int headDim, int capacity, int past, int queries,
        ReadOnlySpan<float> q, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, Span<float> output, Span<float> scratch,
        float scale, int window, float softcap)
    {
        CheckOptions(scale, window, softcap);
        Check(heads, kvHeads, headDim, capacity, past, queries, q.Length, keys.Length, values.Length, output.Length);
        if (queries == 0) return;
        if (scratch.Length < capacity) throw new ArgumentException($"attention scratch holds {scratch.Length} floats; it needs at least one row of capacity {capacity}", nameof(scratch));
        long workPerHead = (long)queries * (past + queries) * headDim * 2;
        int threads = Math.Min(StaticParallel.Threads(heads, workPerHead), scratch.Length / capacity);
        fixed (float* pq = q, pk = keys, pv = values, po = output, ps = scratch)
        {
            var job = new Job
            {
                Heads = heads, Group = heads / kvHeads, HeadDim = headDim, Capacity = capacity, Past = past, Queries = queries, Threads = threads,
                Scale = scale, Window = window <= 0 ? int.MaxValue : window, Softcap = softcap, Q = pq, K = pk, V = pv, O = po, Scratch = ps,
            };
            if (threads <= 1) Heads(ref job, 0, heads, ps);
            else ThreadTeam.Run(threads, &Chunk, &job);
        }
    }

    /// <summary>Plain reference of the overload of <c>Forward</c> without options (double accumulation).</summary>
    public static void ForwardReference(int heads, int kvHeads, int headDim, int capacity, int past, int queries,
        ReadOnlySpan<float> q, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, Span<float> output) =>
        ForwardReference(heads, kvHeads, headDim, capacity, past, queries, q, keys, values, output, 1.0 / Math.Sqrt(headDim), 0, 0);

    /// <summary>Plain reference of the overload of <c>Forward</c> with options (double accumulation).</summary>
    public static void ForwardReference(int heads, int kvHeads, int headDim, int capacity, int past, int queries,
        ReadOnlySpan<float> q, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, Span<float> output, double scale, int window, double softcap)
    {
        Check(heads, kvHeads, headDim, capacity, past, queries, q.Length, keys.Length, values.Length, output.Length);
        int group = heads / kvHeads, width = heads * headDim;
        var w = new double[past + queries];
        for (int h = 0; h < heads; h++)
        {
            int kv = (h / group) * capacity * headDim;
            for (int i = 0; i < queries; i++)
            {
                int n = past + i + 1, first = window > 0 ? Math.Max(0, n - window) : 0, qo = i * width + h * headDim;
                double m = double.NegativeInfinity;
                for (int j = first; j < n; j++)
                {
                    double dot = 0;
                    for (int d = 0; d < headDim; d++) dot += (double)q[qo + d] * keys[kv + j * headDim + d];
                    w[j] = dot * scale;
                    if (softcap > 0) w[j] = Math.Tanh(w[j] / softcap) * softcap;
                    m = Math.Max(m, w[j]);
                }
                double sum = 0;
                for (int j = first; j < n; j++) { w[j] = Math.Exp(w[j] - m); sum += w[j]; }
                for (int d = 0; d < headDim; d++)
                {
                    double acc = 0;
                    for (int j = first; j < n; j++) acc += w[j] * values[kv + j * headDim + d];
                    output[qo + d] = (float)(acc / sum);
                }
            }
        }
    }

    private static void CheckOptions(float scale, int window, float softcap)
    {
        if (!(scale > 0) || !float.IsFinite(scale)) throw new ArgumentOutOfRangeException(nameof(scale), scale, "the attention scale must be positive and finite");
        if (window < 0) throw new ArgumentOutOfRangeException(nameof(window), window, "the sliding window must be 0 (none) or positive");
        if (!(softcap >= 0) || !float.IsFinite(softcap)) throw new ArgumentOutOfRangeException(nameof(softcap), softcap, "the soft-cap must be 0 (none) or positive");
    }

    private static void Check(int heads, int kvHeads, int headDim, int capacity, int past, int queries, int qLength, int kLength, int vLength, int oLength)
    {
        if (heads <= 0 || kvHeads <= 0 || heads % kvHeads != 0) throw new ArgumentException($"{heads} query heads are not a positive multiple of {kvHeads} kv heads");
        if (headDim <= 0) throw new ArgumentOutOfRangeException(nameof(headDim), headDim, "head dim must be positive");
        if (past < 0 || queries < 0 || past + queries > capacity)
            throw new ArgumentException($"{past} cached + {queries} new positions do not fit the cache capacity {capacity}");
        long width = (long)heads * headDim, cache = (long)kvHeads * capacity * headDim;
        if (qLength < queries * width) throw new ArgumentException($"queries hold {qLength} floats; {queries} rows of {heads}·{headDim} need {queries * width}");
        if (oLength < queries * width) throw new ArgumentException($"output holds {oLength} floats; {queries} rows of {heads}·{headDim} need {queries * width}");
        if (kLength < cache || vLength < cache) throw new ArgumentException($"keys/values hold {kLength}/{vLength} floats; [{kvHeads}, {capacity}, {headDim}] needs {cache}");
    }

    private struct Job
    {
        public int Heads, Group, HeadDim, Capacity, Past, Queries, Threads, Window;
        public float Scale, Softcap;
        public float* Q, K, V, O, Scratch;
    }

    private static void Chunk(int t, void* ctx)
    {
        ref var j = ref *(Job*)ctx;
        var (h0, h1) = StaticParallel.Chunk(j.Heads, j.Threads, t);
        Heads(ref j, h0, h1, j.Scratch + (long)t * j.Capacity);
    }

    // Heads [h0, h1) for every query; one score row per query (the keys it sees: the last `window` up to its own position),
    // soft-capped if asked, exp(x − max) in place, then o = Σ p_j·v_j / Σ p_j.
    private static void Heads(ref Job j, int h0, int h1, float* scratch)
    {
        int d = j.HeadDim, width = j.Heads * d;
        for (int h = h0; h < h1; h++)
        {
            long kv = (long)(h / j.Group) * j.Capacity * d;
            for (int i = 0; i < j.Queries; i++)
            {
                int end = j.Past + i + 1, first = Math.Max(0, end - j.Window), n = end - first;
                var qh = new ReadOnlySpan<float>(j.Q + (long)i * width + h * d, d);
                var row = new Span<float>(scratch, n);
                for (int s = 0; s < n; s++) row[s] = TensorPrimitives.Dot(qh, new ReadOnlySpan<float>(j.K + kv + (long)(first + s) * d, d)) * j.Scale;
                if (j.Softcap > 0)
                {
                    TensorPrimitives.Divide(row, j.Softcap, row);
                    TensorPrimitives.Tanh(row, row);
                    TensorPrimitives.Multiply(row, j.Softcap, row);
                }
                float sum = SoftmaxRows.ExpShiftSum(row, TensorPrimitives.Max(row));
                var oh = new Span<float>(j.O + (long)i * width + h * d, d);
                oh.Clear();
                for (int s = 0; s < n; s++) TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(j.V + kv + (long)(first + s) * d, d), row[s], oh, oh);
                TensorPrimitives.Multiply(oh, 1f / sum, oh);
            }
        }
    }
}
