using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace BitDistill.Kernels;

/// <summary>Causal grouped-query attention of a run of new queries over a KV cache, for inference: q and o are [T, H·D] (the
/// rows the projections write, no transpose), keys and values [Hkv, capacity, D] with the first past + T positions filled, and
/// query i sits at position past + i. Work is split by KV head and tile of <see cref="QueryTile"/> queries: each unit reads its
/// keys and values once, <see cref="KeyBlock"/> positions at a time, for every query and every query head of its group, with an
/// online softmax (a running maximum and sum per row, the partial output rescaled when the maximum grows), so no score row as
/// long as the context is kept and a long context is not re-read per head and query. Scratch is caller-provided and work is
/// dispatched to the thread team through a function pointer, so a decode step allocates nothing. Options for Gemma-style layers:
/// the score scale, a sliding window (query i sees only the keys less than <c>window</c> positions back, itself included) and
/// soft-capping of the scores (cap·tanh(score/cap)). The cache may also be IEEE half (half the memory, as llama.cpp's default
/// F16 cache): each block is converted exactly to float once per unit, and the result equals the float cache's holding the
/// same values bit for bit.</summary>
public static unsafe class CachedAttention
{
    /// <summary>Keys past + T; scratch holds <see cref="ScratchPerThread"/> floats per thread used.</summary>
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

    /// <summary>Cache positions read (and for a half cache converted) at a time.</summary>
    public const int KeyBlock = 64;

    /// <summary>Queries one unit of work carries through the cache together (with every query head of its KV head's group).</summary>
    public const int QueryTile = 16;

    /// <summary>Floats of scratch one thread needs: two rows of a block's scores, the running output, maximum and sum of each of the
    /// unit's rows (<see cref="QueryTile"/> queries × heads / kvHeads), and for a half cache a converted block of keys and one of
    /// values.</summary>
    public static int ScratchPerThread(int heads, int kvHeads, int headDim, bool halfCache)
    {
        if (heads <= 0 || kvHeads <= 0 || heads % kvHeads != 0) throw new ArgumentException($"{heads} query heads are not a positive multiple of {kvHeads} kv heads");
        ArgumentOutOfRangeException.ThrowIfLessThan(headDim, 1);
        return 2 * KeyBlock + QueryTile * (heads / kvHeads) * (headDim + 2) + (halfCache ? 2 * KeyBlock * headDim : 0);
    }

    /// <summary>As the overload with options over a cache of IEEE halves [Hkv, capacity, D].</summary>
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
        int perThread = ScratchPerThread(heads, kvHeads, headDim, half);
        if (scratch.Length < perThread)
            throw new ArgumentException($"attention scratch holds {scratch.Length} floats; it needs at least {perThread} per thread (ScratchPerThread)", nameof(scratch));
        int tiles = (queries + QueryTile - 1) / QueryTile, units = kvHeads * tiles;
        long workPerUnit = (long)Math.Min(queries, QueryTile) * (heads / kvHeads) * (past + queries) * headDim * 2;
        int threads = Math.Min(StaticParallel.Threads(units, workPerUnit), scratch.Length / perThread);
        fixed (float* pq = q, po = output, ps = scratch)
        {
            var job = new Job
            {
                Heads = heads, Group = heads / kvHeads, HeadDim = headDim, Capacity = capacity, Past = past, Queries = queries, Threads = threads,
                Tiles = tiles, Units = units, Scale = scale, Window = window <= 0 ? int.MaxValue : window, Softcap = softcap,
                Q = pq, K = keys, V = values, O = po, Scratch = ps, PerThread = perThread, Half = half, Level = KernelContext.Current.Simd,
            };
            if (threads <= 1) Units(ref job, 0, units, ps);
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
        public int Heads, Group, HeadDim, Capacity, Past, Queries, Threads, Window, PerThread, Tiles, Units;
        public float Scale, Softcap;
        public float* Q, O, Scratch;
        public void* K, V; // float or Half
        public bool Half;
        public SimdLevel Level;
    }

    private static void Chunk(int t, void* ctx)
    {
        ref var j = ref *(Job*)ctx;
        var (u0, u1) = StaticParallel.Chunk(j.Units, j.Threads, t);
        Units(ref j, u0, u1, j.Scratch + (long)t * j.PerThread);
    }

    // Units [u0, u1): unit u is KV head u / tiles and queries [tile·QueryTile, …) of tile u % tiles. Each row r (a query and one
    // head of the group) keeps a running maximum m_r, sum l_r and unnormalised output o_r; a block of keys that raises m_r
    // rescales o_r and l_r by exp(m_old − m_new) before its own exp(s − m_new)-weighted values are added. A query sees the
    // positions [max(0, end − window), end) with end = past + i + 1: within a block, one contiguous range.
    private static void Units(ref Job j, int u0, int u1, float* scratch)
    {
        int d = j.HeadDim, width = j.Heads * d, group = j.Group;
        bool pairs = j.Level >= SimdLevel.Vector512 && d % 16 == 0 && Avx512F.IsSupported;
        float* scores = scratch, acc = scratch + 2 * KeyBlock, max = acc + QueryTile * group * d, sum = max + QueryTile * group;
        float* keyBlock = sum + QueryTile * group, valueBlock = keyBlock + KeyBlock * d;
        for (int u = u0; u < u1; u++)
        {
            int g = u / j.Tiles, i0 = u % j.Tiles * QueryTile, i1 = Math.Min(j.Queries, i0 + QueryTile), rows = (i1 - i0) * group;
            long kv = (long)g * j.Capacity * d;
            for (int r = 0; r < rows; r++) { max[r] = float.NegativeInfinity; sum[r] = 0; }
            int lo = Math.Max(0, j.Past + i0 + 1 - j.Window), hi = j.Past + i1; // the positions any of the tile's queries sees
            for (int b0 = lo; b0 < hi; b0 += KeyBlock)
            {
                int b1 = Math.Min(hi, b0 + KeyBlock);
                float* keys = Positions(ref j, j.K, kv + (long)b0 * d, b1 - b0, keyBlock), values = null;
                for (int i = i0; i < i1; i++)
                {
                    int end = j.Past + i + 1, s0 = Math.Max(b0, Math.Max(0, end - j.Window)), s1 = Math.Min(b1, end), n = s1 - s0;
                    if (n <= 0) continue;
                    // the group's heads two at a time where the 512-bit pair kernels apply: each key and value vector loaded once for both
                    for (int h = g * group, pair; h < (g + 1) * group; h += pair)
                    {
                        pair = h + 1 < (g + 1) * group && pairs ? 2 : 1;
                        int r = (i - i0) * group + h - g * group;
                        float* qh = j.Q + (long)i * width + h * d, kh = keys + (long)(s0 - b0) * d;
                        if (pair == 2) ScoresPair512(qh, qh + d, kh, d, n, j.Scale, scores, scores + KeyBlock);
                        else Scores(j.Level, qh, kh, d, n, j.Scale, scores);
                        bool first = float.IsNegativeInfinity(max[r]); // the same for every head of a query: they see the same keys
                        for (int t = 0; t < pair; t++)
                        {
                            var row = new Span<float>(scores + t * KeyBlock, n);
                            if (j.Softcap > 0)
                            {
                                TensorPrimitives.Divide(row, j.Softcap, row);
                                TensorPrimitives.Tanh(row, row);
                                TensorPrimitives.Multiply(row, j.Softcap, row);
                            }
                            float m = Math.Max(max[r + t], TensorPrimitives.Max(row));
                            float blockSum = SoftmaxRows.ExpShiftSum(row, m);
                            if (!first && m > max[r + t])
                            {
                                float alpha = MathF.Exp(max[r + t] - m);
                                float* o = acc + (long)(r + t) * d;
                                TensorPrimitives.Multiply(new ReadOnlySpan<float>(o, d), alpha, new Span<float>(o, d));
                                sum[r + t] *= alpha;
                            }
                            sum[r + t] += blockSum;
                            max[r + t] = m;
                        }
                        if (values is null) values = Positions(ref j, j.V, kv + (long)b0 * d, b1 - b0, valueBlock);
                        float* vh = values + (long)(s0 - b0) * d;
                        if (pair == 2) WeightedPair512(scores, scores + KeyBlock, vh, d, n, acc + (long)r * d, acc + (long)(r + 1) * d, accumulate: !first);
                        else Weighted(j.Level, scores, vh, d, n, acc + (long)r * d, accumulate: !first);
                    }
                }
            }
            for (int i = i0; i < i1; i++)
                for (int h = g * group; h < (g + 1) * group; h++)
                {
                    int r = (i - i0) * group + h - g * group;
                    TensorPrimitives.Multiply(new ReadOnlySpan<float>(acc + (long)r * d, d), 1f / sum[r], new Span<float>(j.O + (long)i * width + h * d, d));
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

    // o = (o if accumulate, else 0) + Σ_s p[s]·values[s]; the caller divides by the softmax sum once, after the last block
    private static void Weighted(SimdLevel level, float* p, float* values, int d, int n, float* o, bool accumulate)
    {
        if (level >= SimdLevel.Vector512 && d % 16 == 0) Weighted512(p, values, d, n, o, accumulate);
        else if (level >= SimdLevel.Vector256 && d % 8 == 0) Weighted256(p, values, d, n, o, accumulate);
        else
        {
            var oh = new Span<float>(o, d);
            if (!accumulate) oh.Clear();
            for (int s = 0; s < n; s++) TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(values + (long)s * d, d), p[s], oh, oh);
        }
    }

    // The decode-sized inner loops with the head's vectors in registers: one call per head instead of one library call per
    // key (whose overhead, and the load and store of o per key, dominated at head dims of 64–256). d is a multiple of the
    // vector width here; other head dims take the TensorPrimitives loops above.

    // scores[s] = (q · keys[s]) · scale for s < n.
    private static void Scores512(float* q, float* keys, int d, int n, float scale, float* scores)
    {
        int s = 0;
        // four keys at a time: q read once for the four, four independent FMA chains, and one combined horizontal sum (a
        // transpose-add: the four dot products of 64 keys in 211 ns where one reduction per key took 361 and horizontal adds 445)
        if (Avx512F.IsSupported)
            for (; s + 4 <= n; s += 4)
            {
                float* k = keys + (long)s * d;
                Vector512<float> a0 = Vector512<float>.Zero, a1 = Vector512<float>.Zero, a2 = Vector512<float>.Zero, a3 = Vector512<float>.Zero;
                for (int c = 0; c < d; c += 16)
                {
                    var qc = Vector512.Load(q + c);
                    a0 = Vector512.FusedMultiplyAdd(qc, Vector512.Load(k + c), a0);
                    a1 = Vector512.FusedMultiplyAdd(qc, Vector512.Load(k + d + c), a1);
                    a2 = Vector512.FusedMultiplyAdd(qc, Vector512.Load(k + 2 * d + c), a2);
                    a3 = Vector512.FusedMultiplyAdd(qc, Vector512.Load(k + 3 * d + c), a3);
                }
                (HorizontalSum.Sum4(a0, a1, a2, a3) * Vector128.Create(scale)).Store(scores + s);
            }
        for (; s < n; s++)
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

    // Scores of two query rows (two heads of one KV group) against the same n keys, four keys at a time: per 16 columns two q
    // loads and four key loads feed eight FMAs (one row alone: one q and four key loads for four).
    private static void ScoresPair512(float* qa, float* qb, float* keys, int d, int n, float scale, float* sa, float* sb)
    {
        int s = 0;
        var sc = Vector128.Create(scale);
        for (; s + 4 <= n; s += 4)
        {
            float* k = keys + (long)s * d;
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
            for (int c = 0; c < d; c += 16)
            {
                var x = Vector512.Load(qa + c); var y = Vector512.Load(qb + c);
                var k0 = Vector512.Load(k + c); var k1 = Vector512.Load(k + d + c); var k2 = Vector512.Load(k + 2 * d + c); var k3 = Vector512.Load(k + 3 * d + c);
                a0 = Vector512.FusedMultiplyAdd(x, k0, a0); a1 = Vector512.FusedMultiplyAdd(x, k1, a1);
                a2 = Vector512.FusedMultiplyAdd(x, k2, a2); a3 = Vector512.FusedMultiplyAdd(x, k3, a3);
                b0 = Vector512.FusedMultiplyAdd(y, k0, b0); b1 = Vector512.FusedMultiplyAdd(y, k1, b1);
                b2 = Vector512.FusedMultiplyAdd(y, k2, b2); b3 = Vector512.FusedMultiplyAdd(y, k3, b3);
            }
            (HorizontalSum.Sum4(a0, a1, a2, a3) * sc).Store(sa + s);
            (HorizontalSum.Sum4(b0, b1, b2, b3) * sc).Store(sb + s);
        }
        if (s < n)
        {
            Scores512(qa, keys + (long)s * d, d, n - s, scale, sa + s);
            Scores512(qb, keys + (long)s * d, d, n - s, scale, sb + s);
        }
    }

    // oa = (oa if accumulate, else 0) + Σ_s pa[s]·values[s], and ob the same with pb: each value vector loaded once for both
    // rows, 64 columns at a time (eight registers), then 16.
    private static void WeightedPair512(float* pa, float* pb, float* values, int d, int n, float* oa, float* ob, bool accumulate)
    {
        int c = 0;
        for (; c + 64 <= d; c += 64)
        {
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
            if (accumulate)
            {
                a0 = Vector512.Load(oa + c); a1 = Vector512.Load(oa + c + 16); a2 = Vector512.Load(oa + c + 32); a3 = Vector512.Load(oa + c + 48);
                b0 = Vector512.Load(ob + c); b1 = Vector512.Load(ob + c + 16); b2 = Vector512.Load(ob + c + 32); b3 = Vector512.Load(ob + c + 48);
            }
            for (int s = 0; s < n; s++)
            {
                float* v = values + (long)s * d + c;
                var x = Vector512.Create(pa[s]); var y = Vector512.Create(pb[s]);
                var v0 = Vector512.Load(v); var v1 = Vector512.Load(v + 16); var v2 = Vector512.Load(v + 32); var v3 = Vector512.Load(v + 48);
                a0 = Vector512.FusedMultiplyAdd(v0, x, a0); a1 = Vector512.FusedMultiplyAdd(v1, x, a1);
                a2 = Vector512.FusedMultiplyAdd(v2, x, a2); a3 = Vector512.FusedMultiplyAdd(v3, x, a3);
                b0 = Vector512.FusedMultiplyAdd(v0, y, b0); b1 = Vector512.FusedMultiplyAdd(v1, y, b1);
                b2 = Vector512.FusedMultiplyAdd(v2, y, b2); b3 = Vector512.FusedMultiplyAdd(v3, y, b3);
            }
            a0.Store(oa + c); a1.Store(oa + c + 16); a2.Store(oa + c + 32); a3.Store(oa + c + 48);
            b0.Store(ob + c); b1.Store(ob + c + 16); b2.Store(ob + c + 32); b3.Store(ob + c + 48);
        }
        for (; c < d; c += 16)
        {
            var a = accumulate ? Vector512.Load(oa + c) : Vector512<float>.Zero;
            var b = accumulate ? Vector512.Load(ob + c) : Vector512<float>.Zero;
            for (int s = 0; s < n; s++)
            {
                var v = Vector512.Load(values + (long)s * d + c);
                a = Vector512.FusedMultiplyAdd(v, Vector512.Create(pa[s]), a);
                b = Vector512.FusedMultiplyAdd(v, Vector512.Create(pb[s]), b);
            }
            a.Store(oa + c); b.Store(ob + c);
        }
    }

    private static void Scores256(float* q, float* keys, int d, int n, float scale, float* scores)
    {
        int s = 0;
        if (Avx.IsSupported)
            for (; s + 4 <= n; s += 4)
            {
                float* k = keys + (long)s * d;
                Vector256<float> a0 = Vector256<float>.Zero, a1 = Vector256<float>.Zero, a2 = Vector256<float>.Zero, a3 = Vector256<float>.Zero;
                for (int c = 0; c < d; c += 8)
                {
                    var qc = Vector256.Load(q + c);
                    a0 = Vector256.FusedMultiplyAdd(qc, Vector256.Load(k + c), a0);
                    a1 = Vector256.FusedMultiplyAdd(qc, Vector256.Load(k + d + c), a1);
                    a2 = Vector256.FusedMultiplyAdd(qc, Vector256.Load(k + 2 * d + c), a2);
                    a3 = Vector256.FusedMultiplyAdd(qc, Vector256.Load(k + 3 * d + c), a3);
                }
                (HorizontalSum.Sum4(a0, a1, a2, a3) * Vector128.Create(scale)).Store(scores + s);
            }
        for (; s < n; s++)
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

    // o = (o if accumulate, else 0) + Σ_s p[s]·values[s], 128 (512-bit: eight registers), then 64 (32) columns at a time held in four registers across all n keys.
    private static void Weighted512(float* p, float* values, int d, int n, float* o, bool accumulate)
    {
        int c = 0;
        for (; c + 128 <= d; c += 128)
        {
            // eight independent chains: one FMA per register per key, so the loop runs at FMA throughput, not latency
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
            if (accumulate)
            {
                a0 = Vector512.Load(o + c); a1 = Vector512.Load(o + c + 16); a2 = Vector512.Load(o + c + 32); a3 = Vector512.Load(o + c + 48);
                a4 = Vector512.Load(o + c + 64); a5 = Vector512.Load(o + c + 80); a6 = Vector512.Load(o + c + 96); a7 = Vector512.Load(o + c + 112);
            }
            for (int s = 0; s < n; s++)
            {
                float* v = values + (long)s * d + c;
                var w = Vector512.Create(p[s]);
                a0 = Vector512.FusedMultiplyAdd(Vector512.Load(v), w, a0);
                a1 = Vector512.FusedMultiplyAdd(Vector512.Load(v + 16), w, a1);
                a2 = Vector512.FusedMultiplyAdd(Vector512.Load(v + 32), w, a2);
                a3 = Vector512.FusedMultiplyAdd(Vector512.Load(v + 48), w, a3);
                a4 = Vector512.FusedMultiplyAdd(Vector512.Load(v + 64), w, a4);
                a5 = Vector512.FusedMultiplyAdd(Vector512.Load(v + 80), w, a5);
                a6 = Vector512.FusedMultiplyAdd(Vector512.Load(v + 96), w, a6);
                a7 = Vector512.FusedMultiplyAdd(Vector512.Load(v + 112), w, a7);
            }
            a0.Store(o + c); a1.Store(o + c + 16); a2.Store(o + c + 32); a3.Store(o + c + 48);
            a4.Store(o + c + 64); a5.Store(o + c + 80); a6.Store(o + c + 96); a7.Store(o + c + 112);
        }
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
            a0.Store(o + c); a1.Store(o + c + 16); a2.Store(o + c + 32); a3.Store(o + c + 48);
        }
        for (; c < d; c += 16)
        {
            var a = accumulate ? Vector512.Load(o + c) : Vector512<float>.Zero;
            for (int s = 0; s < n; s++) a = Vector512.FusedMultiplyAdd(Vector512.Load(values + (long)s * d + c), Vector512.Create(p[s]), a);
            a.Store(o + c);
        }
    }

    private static void Weighted256(float* p, float* values, int d, int n, float* o, bool accumulate)
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
            a0.Store(o + c); a1.Store(o + c + 8); a2.Store(o + c + 16); a3.Store(o + c + 24);
        }
        for (; c < d; c += 8)
        {
            var a = accumulate ? Vector256.Load(o + c) : Vector256<float>.Zero;
            for (int s = 0; s < n; s++) a = Vector256.FusedMultiplyAdd(Vector256.Load(values + (long)s * d + c), Vector256.Create(p[s]), a);
            a.Store(o + c);
        }
    }
}
