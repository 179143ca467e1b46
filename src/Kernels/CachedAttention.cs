using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

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
        fixed (float* pk = keys, pv = values)
            Run(heads, kvHeads, headDim, capacity, past, queries, q, pk, pv, half: false, output, scratch, scale, window, softcap);
    }

    /// <summary>Positions of a half cache converted to float at a time (keys, then values), in the thread's scratch.</summary>
    public const int HalfBlock = 64;

    /// <summary>Floats of scratch one thread needs: a score row of <paramref name="capacity"/>, and for a half cache a block of
    /// <see cref="HalfBlock"/> converted positions.</summary>
    public static int ScratchPerThread(int capacity, int headDim, bool halfCache) => halfCache ? capacity + HalfBlock * headDim : capacity;

    /// <summary>As the overload with options over a cache of IEEE halves [Hkv, capacity, D]; scratch holds
    /// <see cref="ScratchPerThread"/>(capacity, headDim, true) floats per thread used.</summary>
    public static void Forward(int heads, int kvHeads, int headDim, int capacity, int past, int queries,
        ReadOnlySpan<float> q, ReadOnlySpan<Half> keys, ReadOnlySpan<Half> values, Span<float> output, Span<float> scratch,
        float scale, int window, float softcap)
    {
        CheckOptions(scale, window, softcap);
        Check(heads, kvHeads, headDim, capacity, past, queries, q.Length, keys.Length, values.Length, output.Length);
        fixed (Half* pk = keys, pv = values)
            Run(heads, kvHeads, headDim, capacity, past, queries, q, pk, pv, half: true, output, scratch, scale, window, softcap);
    }

    private static void Run(int heads, int kvHeads, int headDim, int capacity, int past, int queries, ReadOnlySpan<float> q,
        void* keys, void* values, bool half, Span<float> output, Span<float> scratch, float scale, int window, float softcap)
    {
        if (queries == 0) return;
        int perThread = ScratchPerThread(capacity, headDim, half);
        if (scratch.Length < perThread)
            throw new ArgumentException($"attention scratch holds {scratch.Length} floats; it needs at least {perThread} (one row of capacity {capacity}{(half ? $" and {HalfBlock} converted positions of {headDim}" : "")})", nameof(scratch));
        long workPerHead = (long)queries * (past + queries) * headDim * 2;
        int threads = Math.Min(StaticParallel.Threads(heads, workPerHead), scratch.Length / perThread);
        fixed (float* pq = q, po = output, ps = scratch)
        {
            var job = new Job
            {
                Heads = heads, Group = heads / kvHeads, HeadDim = headDim, Capacity = capacity, Past = past, Queries = queries, Threads = threads,
                Scale = scale, Window = window <= 0 ? int.MaxValue : window, Softcap = softcap, Q = pq, K = keys, V = values, O = po, Scratch = ps,
                PerThread = perThread, Half = half, Level = KernelContext.Current.Simd,
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
        public int Heads, Group, HeadDim, Capacity, Past, Queries, Threads, Window, PerThread;
        public float Scale, Softcap;
        public float* Q, O, Scratch;
        public void* K, V; // float or Half
        public bool Half;
        public SimdLevel Level;
    }

    private static void Chunk(int t, void* ctx)
    {
        ref var j = ref *(Job*)ctx;
        var (h0, h1) = StaticParallel.Chunk(j.Heads, j.Threads, t);
        Heads(ref j, h0, h1, j.Scratch + (long)t * j.PerThread);
    }

    // Heads [h0, h1) for every query; one score row per query (the keys it sees: the last `window` up to its own position),
    // soft-capped if asked, exp(x − max) in place, then o = Σ p_j·v_j / Σ p_j. A float cache is read in place, one block of all
    // n positions; a half cache block by block, each converted into the scratch after the score row (the same operations in the
    // same order, so the same result).
    private static void Heads(ref Job j, int h0, int h1, float* scratch)
    {
        int d = j.HeadDim, width = j.Heads * d, block = j.Half ? HalfBlock : int.MaxValue;
        float* converted = scratch + j.Capacity;
        for (int h = h0; h < h1; h++)
        {
            long kv = (long)(h / j.Group) * j.Capacity * d;
            for (int i = 0; i < j.Queries; i++)
            {
                int end = j.Past + i + 1, first = Math.Max(0, end - j.Window), n = end - first;
                float* qh = j.Q + (long)i * width + h * d, oh = j.O + (long)i * width + h * d;
                var row = new Span<float>(scratch, n);
                for (int b = 0; b < n; b += block)
                {
                    int m = Math.Min(block, n - b);
                    Scores(j.Level, qh, Positions(ref j, j.K, kv + (long)(first + b) * d, m, converted), d, m, j.Scale, scratch + b);
                }
                if (j.Softcap > 0)
                {
                    TensorPrimitives.Divide(row, j.Softcap, row);
                    TensorPrimitives.Tanh(row, row);
                    TensorPrimitives.Multiply(row, j.Softcap, row);
                }
                float inv = 1f / SoftmaxRows.ExpShiftSum(row, TensorPrimitives.Max(row));
                for (int b = 0; b < n; b += block)
                {
                    int m = Math.Min(block, n - b);
                    // blocks before the last leave unscaled partial sums in o; the last adds its own and scales
                    Weighted(j.Level, scratch + b, Positions(ref j, j.V, kv + (long)(first + b) * d, m, converted), d, m, b + m == n ? inv : 1f, oh, accumulate: b > 0);
                }
            }
        }
    }

    // m positions of a cache from element `offset`: in place (float), or converted into `converted` (half).
    private static float* Positions(ref Job j, void* cache, long offset, int m, float* converted)
    {
        if (!j.Half) return (float*)cache + offset;
        NumericConvert.HalfToSingle(new ReadOnlySpan<Half>((Half*)cache + offset, m * j.HeadDim), new Span<float>(converted, m * j.HeadDim));
        return converted;
    }

    private static void Scores(SimdLevel level, float* q, float* keys, int d, int n, float scale, float* scores)
    {
        if (level >= SimdLevel.Vector512 && d % 16 == 0) Scores512(q, keys, d, n, scale, scores);
        else if (level >= SimdLevel.Vector256 && d % 8 == 0) Scores256(q, keys, d, n, scale, scores);
        else
        {
            var qh = new ReadOnlySpan<float>(q, d);
            for (int s = 0; s < n; s++) scores[s] = TensorPrimitives.Dot(qh, new ReadOnlySpan<float>(keys + (long)s * d, d)) * scale;
        }
    }

    // o = inv · ((o if accumulate, else 0) + Σ_s p[s]·values[s])
    private static void Weighted(SimdLevel level, float* p, float* values, int d, int n, float inv, float* o, bool accumulate)
    {
        if (level >= SimdLevel.Vector512 && d % 16 == 0) Weighted512(p, values, d, n, inv, o, accumulate);
        else if (level >= SimdLevel.Vector256 && d % 8 == 0) Weighted256(p, values, d, n, inv, o, accumulate);
        else
        {
            var oh = new Span<float>(o, d);
            if (!accumulate) oh.Clear();
            for (int s = 0; s < n; s++) TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(values + (long)s * d, d), p[s], oh, oh);
            if (inv != 1f) TensorPrimitives.Multiply(oh, inv, oh);
        }
    }

    // The decode-sized inner loops with the head's vectors in registers: one call per head instead of one library call per
    // key (whose overhead, and the load and store of o per key, dominated at head dims of 64–256). d is a multiple of the
    // vector width here; other head dims take the TensorPrimitives loops above.

    // scores[s] = (q · keys[s]) · scale for s < n.
    private static void Scores512(float* q, float* keys, int d, int n, float scale, float* scores)
    {
        for (int s = 0; s < n; s++)
        {
            float* k = keys + (long)s * d;
            Vector512<float> a0 = Vector512<float>.Zero, a1 = Vector512<float>.Zero;
            int c = 0;
            for (; c + 32 <= d; c += 32)
            {
                a0 = Vector512.FusedMultiplyAdd(Vector512.Load(q + c), Vector512.Load(k + c), a0);
                a1 = Vector512.FusedMultiplyAdd(Vector512.Load(q + c + 16), Vector512.Load(k + c + 16), a1);
            }
            if (c < d) a0 = Vector512.FusedMultiplyAdd(Vector512.Load(q + c), Vector512.Load(k + c), a0);
            scores[s] = Vector512.Sum(a0 + a1) * scale;
        }
    }

    private static void Scores256(float* q, float* keys, int d, int n, float scale, float* scores)
    {
        for (int s = 0; s < n; s++)
        {
            float* k = keys + (long)s * d;
            Vector256<float> a0 = Vector256<float>.Zero, a1 = Vector256<float>.Zero;
            int c = 0;
            for (; c + 16 <= d; c += 16)
            {
                a0 = Vector256.FusedMultiplyAdd(Vector256.Load(q + c), Vector256.Load(k + c), a0);
                a1 = Vector256.FusedMultiplyAdd(Vector256.Load(q + c + 8), Vector256.Load(k + c + 8), a1);
            }
            if (c < d) a0 = Vector256.FusedMultiplyAdd(Vector256.Load(q + c), Vector256.Load(k + c), a0);
            scores[s] = Vector256.Sum(a0 + a1) * scale;
        }
    }

    // o = inv · ((o if accumulate, else 0) + Σ_s p[s]·values[s]), 64 (32) columns at a time held in four registers across all n keys.
    private static void Weighted512(float* p, float* values, int d, int n, float inv, float* o, bool accumulate)
    {
        int c = 0;
        for (; c + 64 <= d; c += 64)
        {
            Vector512<float> a0 = Vector512<float>.Zero, a1 = Vector512<float>.Zero, a2 = Vector512<float>.Zero, a3 = Vector512<float>.Zero;
            if (accumulate) { a0 = Vector512.Load(o + c); a1 = Vector512.Load(o + c + 16); a2 = Vector512.Load(o + c + 32); a3 = Vector512.Load(o + c + 48); }
            for (int s = 0; s < n; s++)
            {
                float* v = values + (long)s * d + c;
                var w = Vector512.Create(p[s]);
                a0 = Vector512.FusedMultiplyAdd(Vector512.Load(v), w, a0);
                a1 = Vector512.FusedMultiplyAdd(Vector512.Load(v + 16), w, a1);
                a2 = Vector512.FusedMultiplyAdd(Vector512.Load(v + 32), w, a2);
                a3 = Vector512.FusedMultiplyAdd(Vector512.Load(v + 48), w, a3);
            }
            var scale = Vector512.Create(inv);
            (a0 * scale).Store(o + c); (a1 * scale).Store(o + c + 16); (a2 * scale).Store(o + c + 32); (a3 * scale).Store(o + c + 48);
        }
        for (; c < d; c += 16)
        {
            var a = accumulate ? Vector512.Load(o + c) : Vector512<float>.Zero;
            for (int s = 0; s < n; s++) a = Vector512.FusedMultiplyAdd(Vector512.Load(values + (long)s * d + c), Vector512.Create(p[s]), a);
            (a * Vector512.Create(inv)).Store(o + c);
        }
    }

    private static void Weighted256(float* p, float* values, int d, int n, float inv, float* o, bool accumulate)
    {
        int c = 0;
        for (; c + 32 <= d; c += 32)
        {
            Vector256<float> a0 = Vector256<float>.Zero, a1 = Vector256<float>.Zero, a2 = Vector256<float>.Zero, a3 = Vector256<float>.Zero;
            if (accumulate) { a0 = Vector256.Load(o + c); a1 = Vector256.Load(o + c + 8); a2 = Vector256.Load(o + c + 16); a3 = Vector256.Load(o + c + 24); }
            for (int s = 0; s < n; s++)
            {
                float* v = values + (long)s * d + c;
                var w = Vector256.Create(p[s]);
                a0 = Vector256.FusedMultiplyAdd(Vector256.Load(v), w, a0);
                a1 = Vector256.FusedMultiplyAdd(Vector256.Load(v + 8), w, a1);
                a2 = Vector256.FusedMultiplyAdd(Vector256.Load(v + 16), w, a2);
                a3 = Vector256.FusedMultiplyAdd(Vector256.Load(v + 24), w, a3);
            }
            var scale = Vector256.Create(inv);
            (a0 * scale).Store(o + c); (a1 * scale).Store(o + c + 8); (a2 * scale).Store(o + c + 16); (a3 * scale).Store(o + c + 24);
        }
        for (; c < d; c += 8)
        {
            var a = accumulate ? Vector256.Load(o + c) : Vector256<float>.Zero;
            for (int s = 0; s < n; s++) a = Vector256.FusedMultiplyAdd(Vector256.Load(values + (long)s * d + c), Vector256.Create(p[s]), a);
            (a * Vector256.Create(inv)).Store(o + c);
        }
    }
}
