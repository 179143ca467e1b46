using System.Buffers;
using System.Runtime.CompilerServices;

namespace BitDistill.Kernels;

public static unsafe partial class Gemv
{
    /// <summary>y_j = W_j·x for two or three IEEE-half matrices [n_j, k] that read the same x (a layer's q/k/v or gate/up), as
    /// <see cref="MultiplyF16(ReadOnlySpan{Half}, int, int, ReadOnlySpan{float}, Span{float}, Fp16Outliers)"/> on each, in one
    /// pass: x is split once and the threads share the matrices' rows as one range, one dispatch instead of one per matrix
    /// (at two threads a 2 MB matrix streamed at about 40 GB/s where an 8 MB one reached 53–58, on this machine). n_j is
    /// <c>y_j.Length</c>; a third matrix is optional (empty <paramref name="w2"/> and <paramref name="y2"/>). Each result equals
    /// the one-matrix call's bit for bit.</summary>
    public static void MultiplyF16Shared(ReadOnlySpan<float> x, int k,
        ReadOnlySpan<Half> w0, Fp16Outliers outliers0, Span<float> y0,
        ReadOnlySpan<Half> w1, Fp16Outliers outliers1, Span<float> y1,
        ReadOnlySpan<Half> w2, Fp16Outliers? outliers2, Span<float> y2)
    {
        ArgumentNullException.ThrowIfNull(outliers0);
        ArgumentNullException.ThrowIfNull(outliers1);
        bool third = !y2.IsEmpty || !w2.IsEmpty;
        if (third) ArgumentNullException.ThrowIfNull(outliers2);
        CheckShared(k, x.Length, w0.Length, y0.Length, w1.Length, y1.Length, w2.Length, y2.Length);
        outliers0.CheckShape(y0.Length, k); outliers1.CheckShape(y1.Length, k); if (third) outliers2!.CheckShape(y2.Length, k);
        fixed (Half* p0 = w0) fixed (Half* p1 = w1) fixed (Half* p2 = w2) fixed (float* q0 = y0) fixed (float* q1 = y1) fixed (float* q2 = y2)
        fixed (int* s0 = outliers0.RowStart) fixed (int* r0 = outliers0.Row) fixed (int* c0 = outliers0.Column) fixed (float* f0 = outliers0.Correction)
        fixed (int* s1 = outliers1.RowStart) fixed (int* r1 = outliers1.Row) fixed (int* c1 = outliers1.Column) fixed (float* f1 = outliers1.Correction)
        fixed (int* s2 = outliers2?.RowStart) fixed (int* r2 = outliers2?.Row) fixed (int* c2 = outliers2?.Column) fixed (float* f2 = outliers2?.Correction)
        {
            var segments = new Segments();
            segments[0] = new Segment { W = (ushort*)p0, Y = q0, N = y0.Length, Outliers = new OutlierTable { Start = s0, Row = r0, Column = c0, Correction = f0 } };
            segments[1] = new Segment { W = (ushort*)p1, Y = q1, N = y1.Length, Outliers = new OutlierTable { Start = s1, Row = r1, Column = c1, Correction = f1 } };
            segments[2] = new Segment { W = (ushort*)p2, Y = q2, N = y2.Length, Outliers = new OutlierTable { Start = s2, Row = r2, Column = c2, Correction = f2 } };
            RunShared(x, k, ref segments, half: true);
        }
    }

    /// <summary>As <see cref="MultiplyF16Shared"/> for bfloat16 matrices (<see cref="MultiplyBF16"/> on each, in one pass).</summary>
    public static void MultiplyBF16Shared(ReadOnlySpan<float> x, int k,
        ReadOnlySpan<ushort> w0, Span<float> y0, ReadOnlySpan<ushort> w1, Span<float> y1, ReadOnlySpan<ushort> w2, Span<float> y2)
    {
        CheckShared(k, x.Length, w0.Length, y0.Length, w1.Length, y1.Length, w2.Length, y2.Length);
        fixed (ushort* p0 = w0) fixed (ushort* p1 = w1) fixed (ushort* p2 = w2) fixed (float* q0 = y0) fixed (float* q1 = y1) fixed (float* q2 = y2)
        {
            var segments = new Segments();
            segments[0] = new Segment { W = p0, Y = q0, N = y0.Length };
            segments[1] = new Segment { W = p1, Y = q1, N = y1.Length };
            segments[2] = new Segment { W = p2, Y = q2, N = y2.Length };
            RunShared(x, k, ref segments, half: false);
        }
    }

    private static void CheckShared(int k, int xLength, int w0, int y0, int w1, int y1, int w2, int y2)
    {
        if (k < 0 || xLength != k) throw new ArgumentException($"x has {xLength} elements; expected k = {k}");
        Check(w0, y0, k, xLength, y0);
        Check(w1, y1, k, xLength, y1);
        Check(w2, y2, k, xLength, y2);
    }

    private static void RunShared(ReadOnlySpan<float> x, int k, ref Segments segments, bool half)
    {
        var level = KernelContext.Current.Simd;
        int n = segments[0].N + segments[1].N + segments[2].N;
        var pairs = ArrayPool<float>.Shared.Rent(Math.Max(1, k));
        try
        {
            fixed (float* px = x) fixed (float* pp = pairs)
            {
                SplitPairs(level, px, pp, k);
                var job = new SharedJob { Segments = segments, X = px, XPairs = pp, K = k, N = n, Threads = StaticParallel.Threads(n, k), Level = level, Half = half };
                if (job.Threads <= 1) SharedRows(ref job, 0, n);
                else ThreadTeam.Run(job.Threads, &ChunkShared, &job);
            }
        }
        finally { ArrayPool<float>.Shared.Return(pairs); }
    }

    private static void ChunkShared(int t, void* ctx)
    {
        ref var j = ref *(SharedJob*)ctx;
        var (s, e) = StaticParallel.Chunk(j.N, j.Threads, t);
        SharedRows(ref j, s, e);
    }

    // Rows [s, e) of the matrices' rows taken as one range: each matrix's part of it through the one-matrix row loop.
    private static void SharedRows(ref SharedJob j, int s, int e)
    {
        int first = 0;
        for (int m = 0; m < 3; m++)
        {
            ref var g = ref j.Segments[m];
            int lo = Math.Max(s, first) - first, hi = Math.Min(e, first + g.N) - first;
            if (lo < hi)
            {
                if (j.Half) RowsF16Normal(j.Level, g.W, j.K, j.X, j.XPairs, g.Y, lo, hi, g.Outliers);
                else RowsPaired<Bf16Pairs>(j.Level, g.W, j.K, j.X, j.XPairs, g.Y, lo, hi);
            }
            first += g.N;
        }
    }

    private struct Segment
    {
        public ushort* W;
        public float* Y;
        public int N;
        public OutlierTable Outliers;
    }

    [InlineArray(3)]
    private struct Segments
    {
        private Segment _first;
    }

    private struct SharedJob
    {
        public Segments Segments;
        public float* X, XPairs;
        public int K, N, Threads;
        public SimdLevel Level;
        public bool Half;
    }
}
