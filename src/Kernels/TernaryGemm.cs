using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace BitDistill.Kernels;

/// <summary>Ternary-weight × INT8-activation matrix product, y[m, n] = Σ_k xq[m, k] · q[n, k], accumulated exactly in int32;
/// the float result is y = acc / xScale[m] · wScale(n). The weights are a <see cref="PackedTernaryMatrix"/> (2-bit codes c = q + 1);
/// the kernels use the bitnet.cpp I2_S offset trick Σ q·x = Σ c·x − Σ x with vpmaddubsw (unsigned codes × signed activations;
/// |c·x| pairs ≤ 2·2·128 = 512 never saturate), int16 partial sums flushed into int32 before they can overflow, and vpmaddwd
/// (or AVX-VNNI vpdpbusd) into int32. Paths, chosen from <see cref="KernelContext.Simd"/> at run time: AVX-512BW (tiles of
/// 4 rows × up to 4 tokens over activations permuted once per call to the packed order, shift + mask decode, linear prefetch of
/// the next tile), AVX2 (the same 4-row tiles × up to 2 tokens on natural-order activations, + AVX-VNNI), SSSE3 or portable Vector128 (ARM), scalar reference — all bit-identical.
/// Multithreaded over tiles of output rows with <see cref="StaticParallel"/>.</summary>
public static unsafe class TernaryGemm
{
    private const int TokenTile = 4;

    /// <summary>The kernel path <see cref="KernelContext.Current"/> selects, in words (for logs and benchmarks).</summary>
    public static string PathName
    {
        get
        {
            var ctx = KernelContext.Current;
            return ctx.Simd switch
            {
                SimdLevel.Vector512 => "AVX-512BW (4-row tiles, permuted activations, prefetch)",
                SimdLevel.Vector256 => "AVX2 (4-row tiles, prefetch)" + (TileKind(ctx, SimdLevel.Vector256) == 1 ? " + AVX-VNNI" : ""),
                SimdLevel.Vector128 => (TileKind(ctx, SimdLevel.Vector128) == 2 ? "SSSE3" : "portable Vector128") + " (4-row tiles)",
                _ => "scalar",
            };
        }
    }

    /// <summary>Which tiled kernel the 256/128-bit path runs: 0 AVX2, 1 AVX2 + AVX-VNNI, 2 SSSE3, 3 portable Vector128.</summary>
    private static int TileKind(KernelContext ctx, SimdLevel level) =>
        level == SimdLevel.Vector256 ? (ctx.TernaryAvxVnni && AvxVnni.IsSupported ? 1 : 0) : Ssse3.IsSupported && !ctx.Portable128 ? 2 : 3;

    /// <summary>Float product: <paramref name="y"/>[m, N] = (Σ_k xq[m, k]·q[n, k]) / xScale[m] · wScale(n), xq row-major [m, K].</summary>
    public static void Multiply(ReadOnlySpan<sbyte> xq, ReadOnlySpan<float> xScale, int m, PackedTernaryMatrix w, Span<float> y)
    {
        TernaryQuantizer.CheckLength(xScale.Length, m, nameof(xScale));
        TernaryQuantizer.CheckLength(y.Length, m * w.Rows, nameof(y));
        var ctx = KernelContext.Current;
        if (m >= ctx.TernarySgemmMinRows && ctx.Simd >= SimdLevel.Vector128 && (long)w.Cols * 128 < 1 << 24)
        {
            TernaryQuantizer.CheckLength(xq.Length, m * w.Cols, nameof(xq));
            MultiplyExactSgemm(xq, xScale, m, w, y);
            return;
        }
        fixed (float* ps = xScale) fixed (float* py = y)
            Run(xq, m, w, null, py, ps);
    }

    /// <summary><see cref="Multiply"/> of the same activations with two or three matrices of the same width (a layer's q, k and
    /// v, or gate and up): the activations are prepared once and all the matrices' rows are split over the threads in one
    /// dispatch, instead of one of each per matrix (decoding with two threads made about 200 small dispatches per token). Each
    /// output is bit-identical to <see cref="Multiply"/>'s. Pass <c>null</c> and an empty span for an unused third matrix.</summary>
    public static void MultiplyShared(ReadOnlySpan<sbyte> xq, ReadOnlySpan<float> xScale, int m, PackedTernaryMatrix w0, Span<float> y0,
        PackedTernaryMatrix w1, Span<float> y1, PackedTernaryMatrix? w2, Span<float> y2)
    {
        ArgumentNullException.ThrowIfNull(w0);
        ArgumentNullException.ThrowIfNull(w1);
        if (w1.Cols != w0.Cols || (w2 != null && w2.Cols != w0.Cols))
            throw new ArgumentException($"shared ternary products need one width: [{w0.Rows}, {w0.Cols}], [{w1.Rows}, {w1.Cols}]" + (w2 != null ? $", [{w2.Rows}, {w2.Cols}]" : ""), nameof(w1));
        TernaryQuantizer.CheckLength(xScale.Length, m, nameof(xScale));
        TernaryQuantizer.CheckLength(y0.Length, m * w0.Rows, nameof(y0));
        TernaryQuantizer.CheckLength(y1.Length, m * w1.Rows, nameof(y1));
        if (w2 != null) TernaryQuantizer.CheckLength(y2.Length, m * w2.Rows, nameof(y2));
        var ctx = KernelContext.Current;
        if (m >= ctx.TernarySgemmMinRows && ctx.Simd >= SimdLevel.Vector128 && (long)w0.Cols * 128 < 1 << 24)
        {
            Multiply(xq, xScale, m, w0, y0);
            Multiply(xq, xScale, m, w1, y1);
            if (w2 != null) Multiply(xq, xScale, m, w2, y2);
            return;
        }
        fixed (float* ps = xScale) fixed (float* p0 = y0) fixed (float* p1 = y1) fixed (float* p2 = y2)
            Run(xq, m, new Products(w0, null, p0, w1, null, p1, w2, null, p2), ps);
    }

    /// <summary>The many-rows path of <see cref="Multiply"/> (see <see cref="KernelContext.TernarySgemmMinRows"/>): activations
    /// and codes converted to floats, one SGEMM whose every partial sum is an exact integer (|Σ| ≤ K·128 &lt; 2²⁴), then the same
    /// epilogue, so the result is bit-identical to the int8 kernels'.</summary>
    private static void MultiplyExactSgemm(ReadOnlySpan<sbyte> xq, ReadOnlySpan<float> xScale, int m, PackedTernaryMatrix w, Span<float> y)
    {
        int n = w.Rows, k = w.Cols;
        if (m == 0 || n == 0) return;
        var codes = ArrayPool<sbyte>.Shared.Rent(n * k);
        var wf = ArrayPool<float>.Shared.Rent(n * k);
        var xf = ArrayPool<float>.Shared.Rent(m * k);
        try
        {
            w.UnpackCodes(codes.AsSpan(0, n * k));
            TensorPrimitives.ConvertTruncating<sbyte, float>(codes.AsSpan(0, n * k), wf.AsSpan(0, n * k));
            TensorPrimitives.ConvertTruncating<sbyte, float>(xq[..(m * k)], xf.AsSpan(0, m * k));
            Sgemm.Multiply(false, true, m, n, k, 1f, xf.AsSpan(0, m * k), k, wf.AsSpan(0, n * k), k, 0f, y, n);
            for (int t = 0; t < m; t++)
            {
                // acc / xScale · wScale, in the epilogue's order (IEEE division, then the product), vectorised
                var row = y.Slice(t * n, n);
                TensorPrimitives.Divide(row, xScale[t], row);
                if (w.ScaleMode == TernaryScaleMode.PerTensor) TensorPrimitives.Multiply(row, w.Scale(0), row);
                else TensorPrimitives.Multiply(row, w.Scales[..n], row);
            }
        }
        finally
        {
            ArrayPool<sbyte>.Shared.Return(codes);
            ArrayPool<float>.Shared.Return(wf);
            ArrayPool<float>.Shared.Return(xf);
        }
    }

    /// <summary>The exact int32 accumulators <paramref name="acc"/>[m, N] = Σ_k xq[m, k]·q[n, k].</summary>
    public static void MultiplyInt32(ReadOnlySpan<sbyte> xq, int m, PackedTernaryMatrix w, Span<int> acc)
    {
        TernaryQuantizer.CheckLength(acc.Length, m * w.Rows, nameof(acc));
        fixed (int* pa = acc) Run(xq, m, w, pa, null, null);
    }

    /// <summary>Scalar oracle of <see cref="MultiplyInt32"/> (unpacks every weight with <see cref="PackedTernaryMatrix.Get"/>).</summary>
    public static void MultiplyInt32Reference(ReadOnlySpan<sbyte> xq, int m, PackedTernaryMatrix w, Span<int> acc)
    {
        int k = w.Cols, n = w.Rows;
        TernaryQuantizer.CheckLength(xq.Length, m * k, nameof(xq));
        TernaryQuantizer.CheckLength(acc.Length, m * n, nameof(acc));
        for (int t = 0; t < m; t++)
            for (int r = 0; r < n; r++)
            {
                int s = 0;
                for (int c = 0; c < k; c++) s += xq[t * k + c] * w.Get(r, c);
                acc[t * n + r] = s;
            }
    }

    /// <summary>Scalar oracle of <see cref="Multiply"/>: the reference accumulators with the same float epilogue.</summary>
    public static void MultiplyReference(ReadOnlySpan<sbyte> xq, ReadOnlySpan<float> xScale, int m, PackedTernaryMatrix w, Span<float> y)
    {
        var acc = new int[m * w.Rows];
        MultiplyInt32Reference(xq, m, w, acc);
        for (int t = 0; t < m; t++)
            for (int r = 0; r < w.Rows; r++) y[t * w.Rows + r] = Epilogue(acc[t * w.Rows + r], xScale[t], w.Scale(r));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Epilogue(int acc, float xScale, float wScale) => acc / xScale * wScale;

    /// <summary>Copies the activations into a zero-padded [m, PaddedCols] scratch (unless already aligned), sums each row, and runs the kernel.</summary>
    private static void Run(ReadOnlySpan<sbyte> xq, int m, PackedTernaryMatrix w, int* acc, float* y, float* xScale) =>
        Run(xq, m, new Products(w, acc, y), xScale);

    private static void Run(ReadOnlySpan<sbyte> xq, int m, Products products, float* xScale)
    {
        var ctx = KernelContext.Current;
        int k = products.W0.Cols, kp = products.W0.PaddedCols;
        TernaryQuantizer.CheckLength(xq.Length, m * k, nameof(xq));
        if (m == 0 || products.Tiles == 0) return;
        sbyte[]? padded = k == kp ? null : ArrayPool<sbyte>.Shared.Rent(m * kp);
        int[] sums = ArrayPool<int>.Shared.Rent(m);
        try
        {
            if (padded != null)
                for (int t = 0; t < m; t++)
                {
                    xq.Slice(t * k, k).CopyTo(padded.AsSpan(t * kp, k));
                    padded.AsSpan(t * kp + k, kp - k).Clear();
                }
            ReadOnlySpan<sbyte> x = padded != null ? padded.AsSpan(0, m * kp) : xq;
            for (int t = 0; t < m; t++) sums[t] = RowSum(x.Slice(t * kp, kp), ctx.Simd);
            fixed (sbyte* px = x) fixed (int* ps = sums)
                Compute(ctx, px, ps, m, products, xScale);
        }
        finally
        {
            if (padded != null) ArrayPool<sbyte>.Shared.Return(padded);
            ArrayPool<int>.Shared.Return(sums);
        }
    }

    /// <summary>The kernel on padded activations x [m, PaddedCols] with row sums <paramref name="xSum"/>; writes int32 or float output.</summary>
    internal static void Compute(KernelContext ctx, sbyte* x, int* xSum, int m, PackedTernaryMatrix w, int* acc, float* y, float* xScale) =>
        Compute(ctx, x, xSum, m, new Products(w, acc, y), xScale);

    private static void Compute(KernelContext ctx, sbyte* x, int* xSum, int m, Products products, float* xScale)
    {
        var level = ctx.Simd;
        int kind = level is SimdLevel.Vector256 or SimdLevel.Vector128 ? TileKind(ctx, level) : -1;
        if (level != SimdLevel.Vector512) { ComputeRows(level, kind, x, xSum, m, products, xScale); return; }
        // the 512-bit kernel reads the activations in pair-permuted order: permute each token once (K bytes) per call
        int kp = products.W0.PaddedCols;
        var buffer = ArrayPool<sbyte>.Shared.Rent(m * kp + 64);
        try
        {
            fixed (sbyte* pb = buffer)
            {
                var xp = (sbyte*)(((nint)pb + 63) & ~(nint)63);
                for (int t = 0; t < m; t++) PermuteActivations512(x + (long)t * kp, xp + (long)t * kp, kp);
                ComputeRows(level, kind, xp, xSum, m, products, xScale);
            }
        }
        finally { ArrayPool<sbyte>.Shared.Return(buffer); }
    }

    // Threads get whole tiles of RowTile rows, numbered across the products one after another (the split never changes a
    // result: every output is computed exactly).
    private static void ComputeRows(SimdLevel level, int kind, sbyte* x, int* xSum, int m, Products products, float* xScale)
    {
        int tiles = products.Tiles;
        long work = (long)products.W0.PaddedCols * m * RowTile / 4 + 1;
        if (StaticParallel.Threads(tiles, work) <= 1) TileRange(level, kind, x, xSum, m, products, xScale, 0, tiles);
        else ComputeParallel(level, kind, x, xSum, m, products, xScale, tiles, work);
    }

    // The split over the thread team, through a job object reused by the calling thread: a closure per call allocated on
    // every ternary product that used two threads (decode steps must allocate nothing).
    private static void ComputeParallel(SimdLevel level, int kind, sbyte* x, int* xSum, int m, Products products, float* xScale, int tiles, long work)
    {
        var job = t_job ?? new ParallelJob();
        t_job = null; // taken while in use, so a nested call (none today) would get its own
        try
        {
            job.Set(level, kind, x, xSum, m, products, xScale);
            StaticParallel.For(tiles, work, job.Body);
        }
        finally
        {
            job.Set(default, 0, null, null, 0, default, null);
            t_job = job;
        }
    }

    [ThreadStatic] private static ParallelJob? t_job;

    /// <summary>The arguments of one parallel product and the chunk body that reads them (allocated once per calling thread).</summary>
    private sealed class ParallelJob
    {
        private SimdLevel _level;
        private int _kind, _m;
        private sbyte* _x;
        private int* _xSum;
        private float* _xScale;
        private Products _products;

        public ParallelJob() => Body = Chunk;

        public Action<int, int> Body { get; }

        public void Set(SimdLevel level, int kind, sbyte* x, int* xSum, int m, Products products, float* xScale)
        {
            _level = level; _kind = kind; _x = x; _xSum = xSum; _m = m; _products = products; _xScale = xScale;
        }

        private void Chunk(int s, int e) => TileRange(_level, _kind, _x, _xSum, _m, _products, _xScale, s, e);
    }

    // tiles [t0, t1) of the products' joint numbering: each product's share of them
    private static void TileRange(SimdLevel level, int kind, sbyte* x, int* xSum, int m, Products products, float* xScale, int t0, int t1)
    {
        for (int i = 0, first = 0; i < products.Count; i++)
        {
            var w = products.W(i);
            int tiles = (w.Rows + RowTile - 1) / RowTile, s = Math.Max(t0, first), e = Math.Min(t1, first + tiles);
            if (s < e) Rows(level, kind, x, xSum, m, w, products.Acc(i), products.Y(i), xScale, (s - first) * RowTile, Math.Min(w.Rows, (e - first) * RowTile));
            first += tiles;
        }
    }

    /// <summary>One to three products of the same activations: each matrix with its int32 (<c>acc</c>) or float (<c>y</c>)
    /// output [m, rows].</summary>
    private readonly struct Products(PackedTernaryMatrix w0, int* acc0, float* y0, PackedTernaryMatrix? w1 = null, int* acc1 = null, float* y1 = null,
        PackedTernaryMatrix? w2 = null, int* acc2 = null, float* y2 = null)
    {
        public readonly PackedTernaryMatrix W0 = w0;
        private readonly PackedTernaryMatrix? _w1 = w1, _w2 = w2;
        private readonly int* _acc0 = acc0, _acc1 = acc1, _acc2 = acc2;
        private readonly float* _y0 = y0, _y1 = y1, _y2 = y2;
        public int Count => _w2 != null ? 3 : _w1 != null ? 2 : 1;
        public PackedTernaryMatrix W(int i) => i == 0 ? W0 : i == 1 ? _w1! : _w2!;
        public int* Acc(int i) => i == 0 ? _acc0 : i == 1 ? _acc1 : _acc2;
        public float* Y(int i) => i == 0 ? _y0 : i == 1 ? _y1 : _y2;
        public int Tiles
        {
            get
            {
                int t = 0;
                for (int i = 0; i < Count; i++) t += (W(i).Rows + RowTile - 1) / RowTile;
                return t;
            }
        }
    }

    private static void Rows(SimdLevel level, int kind, sbyte* x, int* xSum, int m, PackedTernaryMatrix w, int* acc, float* y, float* xScale, int r0, int r1)
    {
        if (level == SimdLevel.Vector512) { Rows512(x, xSum, m, w, acc, y, xScale, r0, r1); return; }
        if (level >= SimdLevel.Vector128) { RowsTiled(kind, x, xSum, m, w, acc, y, xScale, r0, r1); return; }
        int kp = w.PaddedCols, blocks = kp / PackedTernaryMatrix.BlockSize, n = w.Rows;
        for (int r = r0; r < r1; r++)
        {
            byte* wr = w.Pointer + (long)r * w.RowBytes;
            float ws = w.Scale(r);
            for (int t = 0; t < m; t++)
            {
                int v = DotScalar(wr, x + (long)t * kp, blocks) - xSum[t];
                long o = (long)t * n + r;
                if (acc != null) acc[o] = v;
                else y[o] = Epilogue(v, xScale[t], ws);
            }
        }
    }

    /// <summary>Σ c·x over one packed row (codes c = q + 1), one token: the scalar path.</summary>
    private static int DotScalar(byte* w, sbyte* x, int blocks)
    {
        int s = 0;
        for (int b = 0; b < blocks; b++, w += 32, x += 128)
            for (int j = 0; j < 32; j++)
            {
                int v = w[j];
                s += (v & 3) * x[j] + ((v >> 2) & 3) * x[j + 32] + ((v >> 4) & 3) * x[j + 64] + (v >> 6) * x[j + 96];
            }
        return s;
    }

    // ---------------------------------------------------------------- 512-bit

    // One 64-byte load holds two blocks (256 weights). Byte j of it holds, in bit pair s, weight 32s + j of block 2p (j < 32) or
    // weight 32s + j − 32 of block 2p + 1 (j ≥ 32). The activations are permuted once per call (PermuteActivations512) so that
    // the 64 activation bytes of "plane" s sit together: [x(2p)[32s … 32s+31], x(2p+1)[32s … 32s+31]]. Then plane s of the codes is
    // (w >> 2s) & 3 (vpsrlw + vpand: the shift runs on other ports than vpmaddubsw, unlike GFNI on Zen 4) and lines up with one
    // plain 64-byte activation load. An odd last block keeps the natural order and is decoded by a 32-byte broadcast and vpsrlvw.
    // Per int16 lane a pair adds 4 vpmaddubsw results of magnitude ≤ 512, so 16 pairs stay within [−32768, 32512]: flush then.
    private const int FlushPairs512 = 16;
    /// <summary>Rows that share each activation load in the 512-bit kernel.</summary>
    private const int RowTile = 4;
    // Prefetch: while a tile of 4 rows is computed, the next tile (the next 4·RowBytes bytes, contiguous) is prefetched as one
    // linear stream, 256 bytes per step, so it is done when the tile is. On Zen 4 the hardware prefetcher alone left this
    // compute-heavy loop at a third of the streaming bandwidth with weights from memory; per-row prefetch streams did little.
    // Into L1 while a tile fits comfortably (≤ 8 KB), into L2 beyond (prefetcht0 of a 14 KB tile evicted the current one).
    private const int PrefetchL1TileBytes = 8192;
    // Decode (one token) reads each weight once: its kernels prefetch non-temporally at least 8 KB ahead of the tile being
    // computed instead of the next tile into L1. With rows of 1024 weights a tile is 1 KB, a few tens of nanoseconds of work,
    // shorter than a miss to memory; at 1 thread, weights from memory, the 512-bit GEMV went from 21–22 to 28–41 GB/s
    // (in cache 41–54) on Zen 4.
    private const int DecodePrefetchBytes = 8192;

    /// <summary>Permutes one token's padded activations (kp bytes) into the order the 512-bit kernel reads (see above).</summary>
    internal static void PermuteActivations512(sbyte* x, sbyte* xp, int kp)
    {
        int blocks = kp / PackedTernaryMatrix.BlockSize, b = 0;
        for (; b + 1 < blocks; b += 2)
        {
            sbyte* s = x + b * 128, d = xp + b * 128;
            for (int plane = 0; plane < 4; plane++)
            {
                Vector256.Store(Vector256.Load(s + 32 * plane), d + 64 * plane);
                Vector256.Store(Vector256.Load(s + 128 + 32 * plane), d + 64 * plane + 32);
            }
        }
        if (b < blocks) Buffer.MemoryCopy(x + b * 128, xp + b * 128, 128, 128);
    }

    /// <summary>Number of tokens a 512-bit tile handles, as a type so the JIT compiles one straight-line kernel per count.</summary>
    private interface ITokenCount { static abstract int Count { get; } }
    private struct Tokens1 : ITokenCount { public static int Count => 1; }
    private struct Tokens2 : ITokenCount { public static int Count => 2; }
    private struct Tokens3 : ITokenCount { public static int Count => 3; }
    private struct Tokens4 : ITokenCount { public static int Count => 4; }

    /// <summary>One token's int16 partial sums for the 4 rows of a tile.</summary>
    private struct Partial4
    {
        public Vector512<short> R0, R1, R2, R3;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Add(Vector512<byte> c0, Vector512<byte> c1, Vector512<byte> c2, Vector512<byte> c3, sbyte* x)
        {
            var v = Vector512.Load(x);
            R0 += Avx512BW.MultiplyAddAdjacent(c0, v);
            R1 += Avx512BW.MultiplyAddAdjacent(c1, v);
            R2 += Avx512BW.MultiplyAddAdjacent(c2, v);
            R3 += Avx512BW.MultiplyAddAdjacent(c3, v);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void FlushInto(Vector512<int>* acc, Vector512<short> ones)
        {
            acc[0] += Avx512BW.MultiplyAddAdjacent(R0, ones);
            acc[1] += Avx512BW.MultiplyAddAdjacent(R1, ones);
            acc[2] += Avx512BW.MultiplyAddAdjacent(R2, ones);
            acc[3] += Avx512BW.MultiplyAddAdjacent(R3, ones);
            this = default;
        }
    }

    /// <summary>Σ c·x for 4 rows (w0 … w3, each <paramref name="blocks"/> blocks) × TT.Count tokens (permuted activations
    /// xp, xp + kp, …): d[t·4 + r]. Each 64-byte weight load is decoded once and used by every token; each activation load by
    /// all 4 rows. <paramref name="pf"/> is the start of the next tile, prefetched as one linear stream (into L1 if <paramref name="pfL1"/>).</summary>
    [SkipLocalsInit]
    private static void Tile512<TT>(byte* w0, byte* w1, byte* w2, byte* w3, byte* pf, bool pfL1, sbyte* xp, int kp, int blocks, int* d)
        where TT : struct, ITokenCount
    {
        int tokens = TT.Count;
        var mask = Vector512.Create((byte)3);
        var ones = Vector512.Create((short)1);
        Vector512<int>* acc = stackalloc Vector512<int>[4 * 4]; // not zeroed by the JIT (SkipLocalsInit): only the used ones are
        for (int i = 0; i < 4 * tokens; i++) acc[i] = default;
        sbyte* x0 = xp;
        Partial4 p0 = default, p1 = default, p2 = default, p3 = default;
        int pairs = blocks / 2;
        for (int p = 0; p < pairs;)
        {
            int end = Math.Min(pairs, p + FlushPairs512);
            for (; p < end; p++)
            {
                byte* f = pf + p * 256;
                if (pfL1) { Sse.Prefetch0(f); Sse.Prefetch0(f + 64); Sse.Prefetch0(f + 128); Sse.Prefetch0(f + 192); }
                else { Sse.Prefetch1(f); Sse.Prefetch1(f + 64); Sse.Prefetch1(f + 128); Sse.Prefetch1(f + 192); }
                int o = p * 64;
                var v0 = Vector512.Load(w0 + o).AsUInt16();
                var v1 = Vector512.Load(w1 + o).AsUInt16();
                var v2 = Vector512.Load(w2 + o).AsUInt16();
                var v3 = Vector512.Load(w3 + o).AsUInt16();
                int xo = p * 256;
                AddPlane<TT>(ref p0, ref p1, ref p2, ref p3, v0.AsByte() & mask, v1.AsByte() & mask, v2.AsByte() & mask, v3.AsByte() & mask, x0 + xo, kp);
                AddPlane<TT>(ref p0, ref p1, ref p2, ref p3, (v0 >> 2).AsByte() & mask, (v1 >> 2).AsByte() & mask, (v2 >> 2).AsByte() & mask, (v3 >> 2).AsByte() & mask, x0 + xo + 64, kp);
                AddPlane<TT>(ref p0, ref p1, ref p2, ref p3, (v0 >> 4).AsByte() & mask, (v1 >> 4).AsByte() & mask, (v2 >> 4).AsByte() & mask, (v3 >> 4).AsByte() & mask, x0 + xo + 128, kp);
                AddPlane<TT>(ref p0, ref p1, ref p2, ref p3, (v0 >> 6).AsByte() & mask, (v1 >> 6).AsByte() & mask, (v2 >> 6).AsByte() & mask, (v3 >> 6).AsByte() & mask, x0 + xo + 192, kp);
            }
            p0.FlushInto(acc, ones);
            if (tokens > 1) p1.FlushInto(acc + 4, ones);
            if (tokens > 2) p2.FlushInto(acc + 8, ones);
            if (tokens > 3) p3.FlushInto(acc + 12, ones);
        }
        if ((blocks & 1) != 0)
        {
            // odd last block, natural order: a 32-byte broadcast; the lower half decodes bits 0–1 / 4–5 and the upper half
            // bits 2–3 / 6–7, so (c01, c23) are the codes of weights 0–63 and 64–127, matching two plain 64-byte loads.
            int o = pairs * 64;
            for (int half = 0; half < 2; half++)
                AddPlane<TT>(ref p0, ref p1, ref p2, ref p3, OddBlockCodes(w0 + o, half, mask), OddBlockCodes(w1 + o, half, mask),
                    OddBlockCodes(w2 + o, half, mask), OddBlockCodes(w3 + o, half, mask), x0 + pairs * 256 + 64 * half, kp);
            p0.FlushInto(acc, ones);
            if (tokens > 1) p1.FlushInto(acc + 4, ones);
            if (tokens > 2) p2.FlushInto(acc + 8, ones);
            if (tokens > 3) p3.FlushInto(acc + 12, ones);
        }
        for (int i = 0; i < tokens; i++) Sum4(acc[4 * i], acc[4 * i + 1], acc[4 * i + 2], acc[4 * i + 3]).Store(d + 4 * i);
    }

    // Codes of half h of an odd last block (32 bytes, natural order) for the 512-bit kernels: the block broadcast to both
    // 256-bit halves, shifted by (0, 2) for weights 0–63 or (4, 6) for weights 64–127, so they line up with a plain 64-byte
    // activation load at 64·h.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> OddBlockCodes(byte* block, int half, Vector512<byte> mask)
    {
        var shift = half == 0 ? Vector512.Create(Vector256.Create((ushort)0), Vector256.Create((ushort)2))
            : Vector512.Create(Vector256.Create((ushort)4), Vector256.Create((ushort)6));
        return Avx512BW.ShiftRightLogicalVariable(Avx512F.BroadcastVector256ToVector512((ulong*)block).AsUInt16(), shift).AsByte() & mask;
    }

    // The four rows' sums of a tile in one vector: 512 → 256 bits, then three horizontal adds (13 instructions where four
    // full reductions took about 50; with rows of 1024 weights that was a sixth of a tile's work). Integer sums: order-free.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> Sum4(Vector512<int> a, Vector512<int> b, Vector512<int> c, Vector512<int> d) =>
        Sum4(a.GetLower() + a.GetUpper(), b.GetLower() + b.GetUpper(), c.GetLower() + c.GetUpper(), d.GetLower() + d.GetUpper());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> Sum4(Vector256<int> a, Vector256<int> b, Vector256<int> c, Vector256<int> d)
    {
        var abcd = Avx2.HorizontalAdd(Avx2.HorizontalAdd(a, b), Avx2.HorizontalAdd(c, d)); // [Σa Σb Σc Σd] per 128-bit half
        return abcd.GetLower() + abcd.GetUpper();
    }

    /// <summary>Adds one plane (64 codes per row, 4 rows) times the same 64 activation bytes of each token (x0, x0 + kp, …).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddPlane<TT>(ref Partial4 p0, ref Partial4 p1, ref Partial4 p2, ref Partial4 p3,
        Vector512<byte> c0, Vector512<byte> c1, Vector512<byte> c2, Vector512<byte> c3, sbyte* x0, int kp) where TT : struct, ITokenCount
    {
        p0.Add(c0, c1, c2, c3, x0);
        if (TT.Count > 1) p1.Add(c0, c1, c2, c3, x0 + kp);
        if (TT.Count > 2) p2.Add(c0, c1, c2, c3, x0 + 2 * kp);
        if (TT.Count > 3) p3.Add(c0, c1, c2, c3, x0 + 3 * kp);
    }

    /// <summary>Rows [r0, r1) on the 512-bit path: tiles of 4 rows (a short last tile repeats its last row) × up to 4 tokens.</summary>
    private static void Rows512(sbyte* xp, int* xSum, int m, PackedTernaryMatrix w, int* acc, float* y, float* xScale, int r0, int r1)
    {
        if (m == 1) { Gemv512(xp, xSum[0], w, acc, y, acc != null ? 0f : xScale[0], r0, r1); return; }
        int kp = w.PaddedCols, blocks = kp / PackedTernaryMatrix.BlockSize, n = w.Rows;
        long rb = w.RowBytes;
        bool pfL1 = RowTile * rb <= PrefetchL1TileBytes;
        int* d = stackalloc int[RowTile * TokenTile];
        for (int r = r0; r < r1; r += RowTile)
        {
            int rows = Math.Min(RowTile, r1 - r);
            byte* w0 = w.Pointer + r * rb;
            byte* w1 = rows > 1 ? w0 + rb : w0, w2 = rows > 2 ? w0 + 2 * rb : w1, w3 = rows > 3 ? w0 + 3 * rb : w2;
            for (int t = 0; t < m; t += TokenTile)
            {
                int tokens = Math.Min(TokenTile, m - t);
                sbyte* xt = xp + (long)t * kp;
                switch (tokens)
                {
                    case 1: Tile512<Tokens1>(w0, w1, w2, w3, w0 + RowTile * rb, pfL1, xt, kp, blocks, d); break;
                    case 2: Tile512<Tokens2>(w0, w1, w2, w3, w0 + RowTile * rb, pfL1, xt, kp, blocks, d); break;
                    case 3: Tile512<Tokens3>(w0, w1, w2, w3, w0 + RowTile * rb, pfL1, xt, kp, blocks, d); break;
                    default: Tile512<Tokens4>(w0, w1, w2, w3, w0 + RowTile * rb, pfL1, xt, kp, blocks, d); break;
                }
                StoreTokens(d, tokens, t, n, xSum, w, acc, y, xScale, r, rows);
            }
        }
    }

    /// <summary>One token (decode) on the 512-bit path: the same 4-row tiles as <see cref="Tile512{TT}"/>, but every tile of rows
    /// [r0, r1) runs in one call with its accumulators in registers, and the four rows' epilogue is one vector step (with rows
    /// of 1024 weights a tile is only two pair steps, and the per-call cost of the general tile took about as long as the
    /// products). The codes are decoded with half the shifts: planes 0 and 1 in place, w &amp; 0x03 and w &amp; 0x0C (that is
    /// 4·code), planes 2 and 3 the same way from w &gt;&gt; 4; the 4·code products go into their own int16 partial sums (a lane
    /// gains at most 2·2·8·128 = 4096 per pair, so they flush every 8 pairs), whose int32 sums are multiples of 4 and are divided
    /// exactly (&gt;&gt; 2) as they flush. Per pair and row: 1 shift, 4 ands, 4 vpmaddubsw, 4 adds (the tile kernel: 3 shifts).
    /// Bit-identical: the integer sums are exact and the vector int → float, division and multiply round like the scalar
    /// <see cref="Epilogue"/>.</summary>
    [SkipLocalsInit, MethodImpl(MethodImplOptions.AggressiveOptimization)] // fully optimised from the first call: decode calls it a few hundred times per token
    private static void Gemv512(sbyte* xp, int xSum, PackedTernaryMatrix w, int* acc, float* y, float xScale, int r0, int r1)
    {
        int kp = w.PaddedCols, blocks = kp / PackedTernaryMatrix.BlockSize, pairs = blocks / 2;
        long rb = w.RowBytes, ahead = Math.Max(RowTile * rb, DecodePrefetchBytes);
        var m1 = Vector512.Create((byte)0x03);
        var m4 = Vector512.Create((byte)0x0C);
        var ones = Vector512.Create((short)1);
        for (int r = r0; r < r1; r += RowTile)
        {
            int rows = Math.Min(RowTile, r1 - r);
            byte* w0 = w.Pointer + r * rb;
            byte* w1 = rows > 1 ? w0 + rb : w0, w2 = rows > 2 ? w0 + 2 * rb : w1, w3 = rows > 3 ? w0 + 3 * rb : w2;
            byte* pf = w0 + ahead;
            Vector512<int> a0 = default, a1 = default, a2 = default, a3 = default;
            for (int p = 0; p < pairs;)
            {
                Vector512<short> s0 = default, s1 = default, s2 = default, s3 = default, q0 = default, q1 = default, q2 = default, q3 = default;
                int end = Math.Min(pairs, p + FlushPairsSplit512);
                for (; p < end; p++)
                {
                    byte* f = pf + p * 256;
                    Sse.PrefetchNonTemporal(f); Sse.PrefetchNonTemporal(f + 64); Sse.PrefetchNonTemporal(f + 128); Sse.PrefetchNonTemporal(f + 192);
                    int o = p * 64;
                    sbyte* x = xp + p * 256;
                    var x0 = Vector512.Load(x); var x1 = Vector512.Load(x + 64);
                    var x2 = Vector512.Load(x + 128); var x3 = Vector512.Load(x + 192);
                    SplitRow(ref s0, ref q0, Vector512.Load(w0 + o), x0, x1, x2, x3, m1, m4);
                    SplitRow(ref s1, ref q1, Vector512.Load(w1 + o), x0, x1, x2, x3, m1, m4);
                    SplitRow(ref s2, ref q2, Vector512.Load(w2 + o), x0, x1, x2, x3, m1, m4);
                    SplitRow(ref s3, ref q3, Vector512.Load(w3 + o), x0, x1, x2, x3, m1, m4);
                }
                a0 += Avx512BW.MultiplyAddAdjacent(s0, ones) + (Avx512BW.MultiplyAddAdjacent(q0, ones) >> 2);
                a1 += Avx512BW.MultiplyAddAdjacent(s1, ones) + (Avx512BW.MultiplyAddAdjacent(q1, ones) >> 2);
                a2 += Avx512BW.MultiplyAddAdjacent(s2, ones) + (Avx512BW.MultiplyAddAdjacent(q2, ones) >> 2);
                a3 += Avx512BW.MultiplyAddAdjacent(s3, ones) + (Avx512BW.MultiplyAddAdjacent(q3, ones) >> 2);
            }
            if ((blocks & 1) != 0)
            {
                // the odd last block in natural order, decoded as in Tile512
                var mask = Vector512.Create((byte)3);
                Partial4 s = default;
                int o = pairs * 64;
                for (int half = 0; half < 2; half++)
                    s.Add(OddBlockCodes(w0 + o, half, mask), OddBlockCodes(w1 + o, half, mask), OddBlockCodes(w2 + o, half, mask),
                        OddBlockCodes(w3 + o, half, mask), xp + pairs * 256 + 64 * half);
                Flush(ref s, ref a0, ref a1, ref a2, ref a3, ones);
            }
            StoreTile(Sum4(a0, a1, a2, a3) - Vector128.Create(xSum), w, acc, y, xScale, r, rows);
        }
    }

    // Pairs between flushes of the decode GEMV's split partial sums (4·code products: ≤ 4096 per lane per pair, 8 pairs ≤ 32768
    // in magnitude; the bound −32768 is reached only with x = −128 and q = +1 throughout, which int16 holds).
    private const int FlushPairsSplit512 = 8;

    // One row's pair step: planes 0/2 (codes) into s, planes 1/3 (4·codes) into q.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SplitRow(ref Vector512<short> s, ref Vector512<short> q, Vector512<byte> v, Vector512<sbyte> x0, Vector512<sbyte> x1,
        Vector512<sbyte> x2, Vector512<sbyte> x3, Vector512<byte> m1, Vector512<byte> m4)
    {
        var h = (v.AsUInt16() >> 4).AsByte();
        s += Avx512BW.MultiplyAddAdjacent(v & m1, x0);
        q += Avx512BW.MultiplyAddAdjacent(v & m4, x1);
        s += Avx512BW.MultiplyAddAdjacent(h & m1, x2);
        q += Avx512BW.MultiplyAddAdjacent(h & m4, x3);
    }

    // int16 partial sums of the 4 rows into their int32 accumulators (in registers, unlike Partial4.FlushInto's stack array)
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Flush(ref Partial4 s, ref Vector512<int> a0, ref Vector512<int> a1, ref Vector512<int> a2, ref Vector512<int> a3, Vector512<short> ones)
    {
        a0 += Avx512BW.MultiplyAddAdjacent(s.R0, ones);
        a1 += Avx512BW.MultiplyAddAdjacent(s.R1, ones);
        a2 += Avx512BW.MultiplyAddAdjacent(s.R2, ones);
        a3 += Avx512BW.MultiplyAddAdjacent(s.R3, ones);
        s = default;
    }

    // ---------------------------------------------------------------- 256-bit

    // One 32-byte load is one block: bit pair s of byte j is weight 32s + j, so plane s of the codes, (w >> 2s) & 3 (vpsrlw +
    // vpand), lines up with the plain 32-byte activation load at 32s — the natural order, no permutation needed. Tiles of
    // 4 rows × up to 2 tokens (16 ymm registers: 4·2 int16 partials + 4 code planes + mask + activations), each activation load
    // shared by the 4 rows, each decoded code vector by the tokens; larger batches run token pairs over the same (cached) tile.
    // Per int16 lane a block adds 4 vpmaddubsw results of magnitude ≤ 512, so 16 blocks stay within [−32768, 32512]: flush then.
    // AVX-VNNI (vpdpbusd) accumulates straight into int32 where present. The next tile is prefetched as one linear stream,
    // 128 bytes (4 rows × 32) per block, like the 512-bit path.
    // (The 128-bit paths: 8 products of ≤ 512 per lane per block → flush every 8.)
    private const int Flush256 = 16, Flush128 = 8;
    /// <summary>Tokens that share each decoded code vector in the 256-bit kernel.</summary>
    private const int TokenTile256 = 2;

    /// <summary>One token's partial sums for the 4 rows of a 256-bit tile (int16 with vpmaddubsw, or int32 with AVX-VNNI).</summary>
    private interface IPartial256
    {
        void Add(Vector256<byte> c0, Vector256<byte> c1, Vector256<byte> c2, Vector256<byte> c3, sbyte* x);
        void FlushInto(Vector256<int>* acc, Vector256<short> ones);
        /// <summary>Adds the partial sums to four register accumulators and clears them.</summary>
        void Flush(ref Vector256<int> a0, ref Vector256<int> a1, ref Vector256<int> a2, ref Vector256<int> a3, Vector256<short> ones);
    }

    private struct Partial256 : IPartial256
    {
        public Vector256<short> R0, R1, R2, R3;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Add(Vector256<byte> c0, Vector256<byte> c1, Vector256<byte> c2, Vector256<byte> c3, sbyte* x)
        {
            var v = Vector256.Load(x);
            R0 += Avx2.MultiplyAddAdjacent(c0, v);
            R1 += Avx2.MultiplyAddAdjacent(c1, v);
            R2 += Avx2.MultiplyAddAdjacent(c2, v);
            R3 += Avx2.MultiplyAddAdjacent(c3, v);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void FlushInto(Vector256<int>* acc, Vector256<short> ones)
        {
            acc[0] += Avx2.MultiplyAddAdjacent(R0, ones);
            acc[1] += Avx2.MultiplyAddAdjacent(R1, ones);
            acc[2] += Avx2.MultiplyAddAdjacent(R2, ones);
            acc[3] += Avx2.MultiplyAddAdjacent(R3, ones);
            this = default;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Flush(ref Vector256<int> a0, ref Vector256<int> a1, ref Vector256<int> a2, ref Vector256<int> a3, Vector256<short> ones)
        {
            a0 += Avx2.MultiplyAddAdjacent(R0, ones);
            a1 += Avx2.MultiplyAddAdjacent(R1, ones);
            a2 += Avx2.MultiplyAddAdjacent(R2, ones);
            a3 += Avx2.MultiplyAddAdjacent(R3, ones);
            this = default;
        }
    }

    private struct PartialVnni256 : IPartial256
    {
        public Vector256<int> R0, R1, R2, R3;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Add(Vector256<byte> c0, Vector256<byte> c1, Vector256<byte> c2, Vector256<byte> c3, sbyte* x)
        {
            var v = Vector256.Load(x);
            R0 = AvxVnni.MultiplyWideningAndAdd(R0, c0, v);
            R1 = AvxVnni.MultiplyWideningAndAdd(R1, c1, v);
            R2 = AvxVnni.MultiplyWideningAndAdd(R2, c2, v);
            R3 = AvxVnni.MultiplyWideningAndAdd(R3, c3, v);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void FlushInto(Vector256<int>* acc, Vector256<short> ones)
        {
            acc[0] += R0; acc[1] += R1; acc[2] += R2; acc[3] += R3;
            this = default;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Flush(ref Vector256<int> a0, ref Vector256<int> a1, ref Vector256<int> a2, ref Vector256<int> a3, Vector256<short> ones)
        {
            a0 += R0; a1 += R1; a2 += R2; a3 += R3;
            this = default;
        }
    }

    /// <summary>Σ c·x for 4 rows (w0 … w3, each <paramref name="blocks"/> blocks) × TT.Count ≤ 2 tokens (x, x + kp): d[t·4 + r].
    /// <paramref name="pf"/> is the start of the next tile, prefetched as one linear stream (into L1 if <paramref name="pfL1"/>).</summary>
    [SkipLocalsInit]
    private static void Tile256<TT, TP>(byte* w0, byte* w1, byte* w2, byte* w3, byte* pf, bool pfL1, sbyte* x, int kp, int blocks, int* d)
        where TT : struct, ITokenCount where TP : struct, IPartial256
    {
        int tokens = TT.Count;
        var mask = Vector256.Create((byte)3);
        var ones = Vector256.Create((short)1);
        Vector256<int>* acc = stackalloc Vector256<int>[4 * TokenTile256]; // not zeroed by the JIT (SkipLocalsInit)
        for (int i = 0; i < 4 * tokens; i++) acc[i] = default;
        sbyte* x1 = x + kp;
        TP p0 = default, p1 = default;
        for (int b = 0; b < blocks;)
        {
            int end = Math.Min(blocks, b + Flush256);
            for (; b < end; b++)
            {
                byte* f = pf + b * 128;
                if (pfL1) { Sse.Prefetch0(f); Sse.Prefetch0(f + 64); }
                else { Sse.Prefetch1(f); Sse.Prefetch1(f + 64); }
                int o = b * 32;
                var v0 = Vector256.Load(w0 + o).AsUInt16();
                var v1 = Vector256.Load(w1 + o).AsUInt16();
                var v2 = Vector256.Load(w2 + o).AsUInt16();
                var v3 = Vector256.Load(w3 + o).AsUInt16();
                int xo = b * 128;
                var c0 = v0.AsByte() & mask; var c1 = v1.AsByte() & mask; var c2 = v2.AsByte() & mask; var c3 = v3.AsByte() & mask;
                p0.Add(c0, c1, c2, c3, x + xo);
                if (tokens > 1) p1.Add(c0, c1, c2, c3, x1 + xo);
                c0 = (v0 >> 2).AsByte() & mask; c1 = (v1 >> 2).AsByte() & mask; c2 = (v2 >> 2).AsByte() & mask; c3 = (v3 >> 2).AsByte() & mask;
                p0.Add(c0, c1, c2, c3, x + xo + 32);
                if (tokens > 1) p1.Add(c0, c1, c2, c3, x1 + xo + 32);
                c0 = (v0 >> 4).AsByte() & mask; c1 = (v1 >> 4).AsByte() & mask; c2 = (v2 >> 4).AsByte() & mask; c3 = (v3 >> 4).AsByte() & mask;
                p0.Add(c0, c1, c2, c3, x + xo + 64);
                if (tokens > 1) p1.Add(c0, c1, c2, c3, x1 + xo + 64);
                c0 = (v0 >> 6).AsByte() & mask; c1 = (v1 >> 6).AsByte() & mask; c2 = (v2 >> 6).AsByte() & mask; c3 = (v3 >> 6).AsByte() & mask;
                p0.Add(c0, c1, c2, c3, x + xo + 96);
                if (tokens > 1) p1.Add(c0, c1, c2, c3, x1 + xo + 96);
            }
            p0.FlushInto(acc, ones);
            if (tokens > 1) p1.FlushInto(acc + 4, ones);
        }
        for (int i = 0; i < tokens; i++) Sum4(acc[4 * i], acc[4 * i + 1], acc[4 * i + 2], acc[4 * i + 3]).Store(d + 4 * i);
    }

    /// <summary>One token (decode) on the 256-bit path, as <see cref="Gemv512"/>: every tile of rows [r0, r1) in one call with
    /// register accumulators and a vector epilogue (bit-identical to <see cref="Tile256{TT, TP}"/> and the scalar epilogue).</summary>
    [SkipLocalsInit, MethodImpl(MethodImplOptions.AggressiveOptimization)] // fully optimised from the first call: decode calls it a few hundred times per token
    private static void Gemv256<TP>(sbyte* x, int xSum, PackedTernaryMatrix w, int* acc, float* y, float xScale, int r0, int r1)
        where TP : struct, IPartial256
    {
        int blocks = w.PaddedCols / PackedTernaryMatrix.BlockSize;
        long rb = w.RowBytes, ahead = Math.Max(RowTile * rb, DecodePrefetchBytes);
        var mask = Vector256.Create((byte)3);
        var ones = Vector256.Create((short)1);
        for (int r = r0; r < r1; r += RowTile)
        {
            int rows = Math.Min(RowTile, r1 - r);
            byte* w0 = w.Pointer + r * rb;
            byte* w1 = rows > 1 ? w0 + rb : w0, w2 = rows > 2 ? w0 + 2 * rb : w1, w3 = rows > 3 ? w0 + 3 * rb : w2;
            byte* pf = w0 + ahead;
            Vector256<int> a0 = default, a1 = default, a2 = default, a3 = default;
            TP p = default;
            for (int b = 0; b < blocks;)
            {
                int end = Math.Min(blocks, b + Flush256);
                for (; b < end; b++)
                {
                    byte* f = pf + b * 128;
                    Sse.PrefetchNonTemporal(f); Sse.PrefetchNonTemporal(f + 64);
                    int o = b * 32;
                    var v0 = Vector256.Load(w0 + o).AsUInt16();
                    var v1 = Vector256.Load(w1 + o).AsUInt16();
                    var v2 = Vector256.Load(w2 + o).AsUInt16();
                    var v3 = Vector256.Load(w3 + o).AsUInt16();
                    sbyte* xb = x + b * 128;
                    p.Add(v0.AsByte() & mask, v1.AsByte() & mask, v2.AsByte() & mask, v3.AsByte() & mask, xb);
                    p.Add((v0 >> 2).AsByte() & mask, (v1 >> 2).AsByte() & mask, (v2 >> 2).AsByte() & mask, (v3 >> 2).AsByte() & mask, xb + 32);
                    p.Add((v0 >> 4).AsByte() & mask, (v1 >> 4).AsByte() & mask, (v2 >> 4).AsByte() & mask, (v3 >> 4).AsByte() & mask, xb + 64);
                    p.Add((v0 >> 6).AsByte() & mask, (v1 >> 6).AsByte() & mask, (v2 >> 6).AsByte() & mask, (v3 >> 6).AsByte() & mask, xb + 96);
                }
                p.Flush(ref a0, ref a1, ref a2, ref a3, ones);
            }
            StoreTile(Sum4(a0, a1, a2, a3) - Vector128.Create(xSum), w, acc, y, xScale, r, rows);
        }
    }

    /// <summary>One token on the 256-bit path with AVX-VNNI, as <see cref="Gemv256{TP}"/> but with half its shifts: the codes of
    /// planes 0 and 1 are taken in place, w &amp; 0x03 and w &amp; 0x0C (the second is 4·code), and those of planes 2 and 3 the same
    /// way from w &gt;&gt; 4; products of 4·code go into their own int32 accumulators, whose lanes are then all multiples of 4 and
    /// are divided exactly (&gt;&gt; 2) at the end. Per block and row: 1 shift, 4 ands, 4 vpdpbusd (before: 3, 4, 4). Exact
    /// for any K: a lane gains at most 4·8·128 per block.</summary>
    [SkipLocalsInit, MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Gemv256Vnni(sbyte* x, int xSum, PackedTernaryMatrix w, int* acc, float* y, float xScale, int r0, int r1)
    {
        int blocks = w.PaddedCols / PackedTernaryMatrix.BlockSize;
        long rb = w.RowBytes, ahead = Math.Max(RowTile * rb, DecodePrefetchBytes);
        var m1 = Vector256.Create((byte)0x03);
        var m4 = Vector256.Create((byte)0x0C);
        for (int r = r0; r < r1; r += RowTile)
        {
            int rows = Math.Min(RowTile, r1 - r);
            byte* w0 = w.Pointer + r * rb;
            byte* w1 = rows > 1 ? w0 + rb : w0, w2 = rows > 2 ? w0 + 2 * rb : w1, w3 = rows > 3 ? w0 + 3 * rb : w2;
            byte* pf = w0 + ahead;
            Vector256<int> a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
            for (int b = 0; b < blocks; b++)
            {
                byte* f = pf + b * 128;
                Sse.PrefetchNonTemporal(f); Sse.PrefetchNonTemporal(f + 64);
                int o = b * 32;
                sbyte* xb = x + b * 128;
                var x0 = Vector256.Load(xb); var x1 = Vector256.Load(xb + 32);
                var x2 = Vector256.Load(xb + 64); var x3 = Vector256.Load(xb + 96);
                VnniRow(ref a0, ref b0, Vector256.Load(w0 + o), x0, x1, x2, x3, m1, m4);
                VnniRow(ref a1, ref b1, Vector256.Load(w1 + o), x0, x1, x2, x3, m1, m4);
                VnniRow(ref a2, ref b2, Vector256.Load(w2 + o), x0, x1, x2, x3, m1, m4);
                VnniRow(ref a3, ref b3, Vector256.Load(w3 + o), x0, x1, x2, x3, m1, m4);
            }
            var d = Sum4(a0 + (b0 >> 2), a1 + (b1 >> 2), a2 + (b2 >> 2), a3 + (b3 >> 2));
            StoreTile(d - Vector128.Create(xSum), w, acc, y, xScale, r, rows);
        }
    }

    // One row's block: planes 0/2 (codes) into a, planes 1/3 (4·codes) into b.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void VnniRow(ref Vector256<int> a, ref Vector256<int> b, Vector256<byte> v, Vector256<sbyte> x0, Vector256<sbyte> x1,
        Vector256<sbyte> x2, Vector256<sbyte> x3, Vector256<byte> m1, Vector256<byte> m4)
    {
        var h = (v.AsUInt16() >> 4).AsByte();
        a = AvxVnni.MultiplyWideningAndAdd(a, v & m1, x0);
        b = AvxVnni.MultiplyWideningAndAdd(b, v & m4, x1);
        a = AvxVnni.MultiplyWideningAndAdd(a, h & m1, x2);
        b = AvxVnni.MultiplyWideningAndAdd(b, h & m4, x3);
    }

    // Tokens t.. t + tokens of a multi-token tile (its sums d[i·4 + row]): one vector epilogue per token. Per output, with a
    // division each, it took about a sixth of a 128-token prefill's samples; bit-identical, as in the decode GEMVs.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreTokens(int* d, int tokens, int t, int n, int* xSum, PackedTernaryMatrix w, int* acc, float* y, float* xScale, int r, int rows)
    {
        for (int i = 0; i < tokens; i++)
        {
            long o = (long)(t + i) * n;
            StoreTile(Vector128.Load(d + i * RowTile) - Vector128.Create(xSum[t + i]), w, acc != null ? acc + o : null,
                acc != null ? null : y + o, acc != null ? 0f : xScale[t + i], r, rows);
        }
    }

    /// <summary>The four rows r.. of one token's tile (rows &lt; 4: only those): exact sums into <paramref name="acc"/>, or
    /// y = sum / xScale · wScale as a vector (rounded like <see cref="Epilogue"/>: int → float, division and multiply are exact-rounded).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreTile(Vector128<int> d, PackedTernaryMatrix w, int* acc, float* y, float xScale, int r, int rows)
    {
        if (acc != null)
        {
            if (rows == RowTile) d.Store(acc + r);
            else for (int j = 0; j < rows; j++) acc[r + j] = d.GetElement(j);
            return;
        }
        var ws = w.ScaleMode == TernaryScaleMode.PerTensor ? Vector128.Create(w.Scale(0))
            : rows == RowTile ? Vector128.Create(w.Scales.Slice(r, RowTile))
            : Vector128.Create(w.Scale(r), w.Scale(r + Math.Min(1, rows - 1)), w.Scale(r + Math.Min(2, rows - 1)), w.Scale(r + rows - 1));
        var f = Vector128.ConvertToSingle(d) / Vector128.Create(xScale) * ws;
        if (rows == RowTile) f.Store(y + r);
        else for (int j = 0; j < rows; j++) y[r + j] = f.GetElement(j);
    }

    /// <summary>Rows [r0, r1) on the 256- or 128-bit path: tiles of 4 rows (a short last tile repeats its last row) × up to 2 tokens.</summary>
    private static void RowsTiled(int kind, sbyte* x, int* xSum, int m, PackedTernaryMatrix w, int* acc, float* y, float* xScale, int r0, int r1)
    {
        if (m == 1 && kind <= 1)
        {
            float xs = acc != null ? 0f : xScale[0];
            if (kind == 0) Gemv256<Partial256>(x, xSum[0], w, acc, y, xs, r0, r1);
            else Gemv256Vnni(x, xSum[0], w, acc, y, xs, r0, r1);
            return;
        }
        if (m == 1)
        {
            float xs = acc != null ? 0f : xScale[0];
            if (kind == 2) Gemv128<PartialSsse3>(x, xSum[0], w, acc, y, xs, r0, r1);
            else Gemv128<PartialPortable128>(x, xSum[0], w, acc, y, xs, r0, r1);
            return;
        }
        int kp = w.PaddedCols, blocks = kp / PackedTernaryMatrix.BlockSize, n = w.Rows;
        long rb = w.RowBytes;
        bool pfL1 = RowTile * rb <= PrefetchL1TileBytes;
        int* d = stackalloc int[RowTile * TokenTile256];
        for (int r = r0; r < r1; r += RowTile)
        {
            int rows = Math.Min(RowTile, r1 - r);
            byte* w0 = w.Pointer + r * rb;
            byte* w1 = rows > 1 ? w0 + rb : w0, w2 = rows > 2 ? w0 + 2 * rb : w1, w3 = rows > 3 ? w0 + 3 * rb : w2;
            byte* pf = w0 + RowTile * rb;
            for (int t = 0; t < m; t += TokenTile256)
            {
                int tokens = Math.Min(TokenTile256, m - t);
                sbyte* xt = x + (long)t * kp;
                switch (kind * 2 + tokens - 1)
                {
                    case 0: Tile256<Tokens1, Partial256>(w0, w1, w2, w3, pf, pfL1, xt, kp, blocks, d); break;
                    case 1: Tile256<Tokens2, Partial256>(w0, w1, w2, w3, pf, pfL1, xt, kp, blocks, d); break;
                    case 2: Tile256<Tokens1, PartialVnni256>(w0, w1, w2, w3, pf, pfL1, xt, kp, blocks, d); break;
                    case 3: Tile256<Tokens2, PartialVnni256>(w0, w1, w2, w3, pf, pfL1, xt, kp, blocks, d); break;
                    case 4: Tile128<Tokens1, PartialSsse3>(w0, w1, w2, w3, pf, pfL1, xt, kp, blocks, d); break;
                    case 5: Tile128<Tokens2, PartialSsse3>(w0, w1, w2, w3, pf, pfL1, xt, kp, blocks, d); break;
                    case 6: Tile128<Tokens1, PartialPortable128>(w0, w1, w2, w3, pf, pfL1, xt, kp, blocks, d); break;
                    default: Tile128<Tokens2, PartialPortable128>(w0, w1, w2, w3, pf, pfL1, xt, kp, blocks, d); break;
                }
                StoreTokens(d, tokens, t, n, xSum, w, acc, y, xScale, r, rows);
            }
        }
    }

    // ---------------------------------------------------------------- 128-bit

    // A block is two 16-byte halves h; half h holds weights 16h + 32s + (0…15) in bits 2s, 2s+1, so plane s of a half lines up with
    // the natural-order activations at 32s + 16h. The same tiles as the 256-bit path (4 rows × up to 2 tokens: 8 partials + 4 code
    // planes + mask + activations in 16 xmm registers). 8 products of ≤ 512 per int16 lane per block → flush every 8 blocks.

    /// <summary>One token's partial sums for the 4 rows of a 128-bit tile.</summary>
    private interface IPartial128
    {
        void Add(Vector128<byte> c0, Vector128<byte> c1, Vector128<byte> c2, Vector128<byte> c3, sbyte* x);
        void FlushInto(Vector128<int>* acc);
        /// <summary>Adds the partial sums to four register accumulators and clears them.</summary>
        void Flush(ref Vector128<int> a0, ref Vector128<int> a1, ref Vector128<int> a2, ref Vector128<int> a3);
    }

    /// <summary>SSSE3: pmaddubsw into int16, pmaddwd into int32.</summary>
    private struct PartialSsse3 : IPartial128
    {
        public Vector128<short> R0, R1, R2, R3;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Add(Vector128<byte> c0, Vector128<byte> c1, Vector128<byte> c2, Vector128<byte> c3, sbyte* x)
        {
            var v = Vector128.Load(x);
            R0 += Ssse3.MultiplyAddAdjacent(c0, v);
            R1 += Ssse3.MultiplyAddAdjacent(c1, v);
            R2 += Ssse3.MultiplyAddAdjacent(c2, v);
            R3 += Ssse3.MultiplyAddAdjacent(c3, v);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void FlushInto(Vector128<int>* acc)
        {
            var ones = Vector128.Create((short)1);
            acc[0] += Sse2.MultiplyAddAdjacent(R0, ones);
            acc[1] += Sse2.MultiplyAddAdjacent(R1, ones);
            acc[2] += Sse2.MultiplyAddAdjacent(R2, ones);
            acc[3] += Sse2.MultiplyAddAdjacent(R3, ones);
            this = default;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Flush(ref Vector128<int> a0, ref Vector128<int> a1, ref Vector128<int> a2, ref Vector128<int> a3)
        {
            var ones = Vector128.Create((short)1);
            a0 += Sse2.MultiplyAddAdjacent(R0, ones);
            a1 += Sse2.MultiplyAddAdjacent(R1, ones);
            a2 += Sse2.MultiplyAddAdjacent(R2, ones);
            a3 += Sse2.MultiplyAddAdjacent(R3, ones);
            this = default;
        }
    }

    /// <summary>Portable Vector128 (ARM NEON and any other 128-bit target): widen codes and activations to int16 and multiply;
    /// each pair of products has the same ≤ 512 bound as pmaddubsw, so the same int16 flush interval holds.</summary>
    private struct PartialPortable128 : IPartial128
    {
        public Vector128<short> R0, R1, R2, R3;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Add(Vector128<byte> c0, Vector128<byte> c1, Vector128<byte> c2, Vector128<byte> c3, sbyte* x)
        {
            var v = Vector128.Load(x);
            R0 += MulPairs(c0, v);
            R1 += MulPairs(c1, v);
            R2 += MulPairs(c2, v);
            R3 += MulPairs(c3, v);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void FlushInto(Vector128<int>* acc)
        {
            acc[0] += Widened(R0); acc[1] += Widened(R1); acc[2] += Widened(R2); acc[3] += Widened(R3);
            this = default;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Flush(ref Vector128<int> a0, ref Vector128<int> a1, ref Vector128<int> a2, ref Vector128<int> a3)
        {
            a0 += Widened(R0); a1 += Widened(R1); a2 += Widened(R2); a3 += Widened(R3);
            this = default;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector128<int> Widened(Vector128<short> s)
        {
            var (lo, hi) = Vector128.Widen(s);
            return lo + hi;
        }
    }

    /// <summary>Σ c·x for 4 rows × TT.Count ≤ 2 tokens on 128-bit vectors: d[t·4 + r]; prefetch as in <see cref="Tile256"/> (x86 only).</summary>
    private static void Tile128<TT, TP>(byte* w0, byte* w1, byte* w2, byte* w3, byte* pf, bool pfL1, sbyte* x, int kp, int blocks, int* d)
        where TT : struct, ITokenCount where TP : struct, IPartial128
    {
        int tokens = TT.Count;
        var mask = Vector128.Create((byte)3);
        Vector128<int>* acc = stackalloc Vector128<int>[4 * TokenTile256];
        for (int i = 0; i < 4 * TokenTile256; i++) acc[i] = default;
        sbyte* x1 = x + kp;
        TP p0 = default, p1 = default;
        for (int b = 0; b < blocks;)
        {
            int end = Math.Min(blocks, b + Flush128);
            for (; b < end; b++)
            {
                if (Sse.IsSupported)
                {
                    byte* f = pf + b * 128;
                    if (pfL1) { Sse.Prefetch0(f); Sse.Prefetch0(f + 64); }
                    else { Sse.Prefetch1(f); Sse.Prefetch1(f + 64); }
                }
                for (int h = 0; h < 2; h++)
                {
                    int o = b * 32 + h * 16;
                    var v0 = Vector128.Load(w0 + o).AsUInt16();
                    var v1 = Vector128.Load(w1 + o).AsUInt16();
                    var v2 = Vector128.Load(w2 + o).AsUInt16();
                    var v3 = Vector128.Load(w3 + o).AsUInt16();
                    int xo = b * 128 + h * 16;
                    var c0 = v0.AsByte() & mask; var c1 = v1.AsByte() & mask; var c2 = v2.AsByte() & mask; var c3 = v3.AsByte() & mask;
                    p0.Add(c0, c1, c2, c3, x + xo);
                    if (tokens > 1) p1.Add(c0, c1, c2, c3, x1 + xo);
                    c0 = (v0 >> 2).AsByte() & mask; c1 = (v1 >> 2).AsByte() & mask; c2 = (v2 >> 2).AsByte() & mask; c3 = (v3 >> 2).AsByte() & mask;
                    p0.Add(c0, c1, c2, c3, x + xo + 32);
                    if (tokens > 1) p1.Add(c0, c1, c2, c3, x1 + xo + 32);
                    c0 = (v0 >> 4).AsByte() & mask; c1 = (v1 >> 4).AsByte() & mask; c2 = (v2 >> 4).AsByte() & mask; c3 = (v3 >> 4).AsByte() & mask;
                    p0.Add(c0, c1, c2, c3, x + xo + 64);
                    if (tokens > 1) p1.Add(c0, c1, c2, c3, x1 + xo + 64);
                    c0 = (v0 >> 6).AsByte() & mask; c1 = (v1 >> 6).AsByte() & mask; c2 = (v2 >> 6).AsByte() & mask; c3 = (v3 >> 6).AsByte() & mask;
                    p0.Add(c0, c1, c2, c3, x + xo + 96);
                    if (tokens > 1) p1.Add(c0, c1, c2, c3, x1 + xo + 96);
                }
            }
            p0.FlushInto(acc);
            if (tokens > 1) p1.FlushInto(acc + 4);
        }
        for (int i = 0; i < 4 * tokens; i++) d[i] = Vector128.Sum(acc[i]);
    }

    /// <summary>One token (decode) on the 128-bit paths, as <see cref="Gemv512"/>: every tile of rows [r0, r1) in one call with
    /// register accumulators and a vector epilogue (bit-identical to <see cref="Tile128{TT, TP}"/>).</summary>
    [SkipLocalsInit, MethodImpl(MethodImplOptions.AggressiveOptimization)] // fully optimised from the first call: decode calls it a few hundred times per token
    private static void Gemv128<TP>(sbyte* x, int xSum, PackedTernaryMatrix w, int* acc, float* y, float xScale, int r0, int r1)
        where TP : struct, IPartial128
    {
        int blocks = w.PaddedCols / PackedTernaryMatrix.BlockSize;
        long rb = w.RowBytes, ahead = Math.Max(RowTile * rb, DecodePrefetchBytes);
        var mask = Vector128.Create((byte)3);
        for (int r = r0; r < r1; r += RowTile)
        {
            int rows = Math.Min(RowTile, r1 - r);
            byte* w0 = w.Pointer + r * rb;
            byte* w1 = rows > 1 ? w0 + rb : w0, w2 = rows > 2 ? w0 + 2 * rb : w1, w3 = rows > 3 ? w0 + 3 * rb : w2;
            byte* pf = w0 + ahead;
            Vector128<int> a0 = default, a1 = default, a2 = default, a3 = default;
            TP p = default;
            for (int b = 0; b < blocks;)
            {
                int end = Math.Min(blocks, b + Flush128);
                for (; b < end; b++)
                {
                    if (Sse.IsSupported) { byte* f = pf + b * 128; Sse.PrefetchNonTemporal(f); Sse.PrefetchNonTemporal(f + 64); }
                    for (int h = 0; h < 2; h++)
                    {
                        int o = b * 32 + h * 16;
                        var v0 = Vector128.Load(w0 + o).AsUInt16();
                        var v1 = Vector128.Load(w1 + o).AsUInt16();
                        var v2 = Vector128.Load(w2 + o).AsUInt16();
                        var v3 = Vector128.Load(w3 + o).AsUInt16();
                        sbyte* xh = x + b * 128 + h * 16;
                        p.Add(v0.AsByte() & mask, v1.AsByte() & mask, v2.AsByte() & mask, v3.AsByte() & mask, xh);
                        p.Add((v0 >> 2).AsByte() & mask, (v1 >> 2).AsByte() & mask, (v2 >> 2).AsByte() & mask, (v3 >> 2).AsByte() & mask, xh + 32);
                        p.Add((v0 >> 4).AsByte() & mask, (v1 >> 4).AsByte() & mask, (v2 >> 4).AsByte() & mask, (v3 >> 4).AsByte() & mask, xh + 64);
                        p.Add((v0 >> 6).AsByte() & mask, (v1 >> 6).AsByte() & mask, (v2 >> 6).AsByte() & mask, (v3 >> 6).AsByte() & mask, xh + 96);
                    }
                }
                p.Flush(ref a0, ref a1, ref a2, ref a3);
            }
            var d = Vector128.Create(Vector128.Sum(a0), Vector128.Sum(a1), Vector128.Sum(a2), Vector128.Sum(a3));
            StoreTile(d - Vector128.Create(xSum), w, acc, y, xScale, r, rows);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<short> MulPairs(Vector128<byte> c, Vector128<sbyte> x)
    {
        var (cl, ch) = Vector128.Widen(c.AsSByte());
        var (xl, xh) = Vector128.Widen(x);
        return cl * xl + ch * xh;
    }

    // ---------------------------------------------------------------- helpers

    /// <summary>Σ x over a span of int8 (exact).</summary>
    internal static int RowSum(ReadOnlySpan<sbyte> x, SimdLevel level)
    {
        int i = 0, s = 0;
        if (level >= SimdLevel.Vector128 && x.Length >= 16)
        {
            // int16 lanes gain at most 2·128 per step: flush into int32 every 64 steps.
            var acc = Vector128<int>.Zero;
            while (i <= x.Length - 16)
            {
                var s16 = Vector128<short>.Zero;
                for (int steps = 0; steps < 64 && i <= x.Length - 16; steps++, i += 16)
                {
                    var (lo, hi) = Vector128.Widen(Vector128.Create(x.Slice(i, 16)));
                    s16 += lo + hi;
                }
                var (a, b) = Vector128.Widen(s16);
                acc += a + b;
            }
            s = Vector128.Sum(acc);
        }
        for (; i < x.Length; i++) s += x[i];
        return s;
    }
}
