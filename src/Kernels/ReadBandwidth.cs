using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace BitDistill.Kernels;

/// <summary>Micro-benchmark of this machine's streaming read bandwidth (GB/s): threads sum contiguous parts of a buffer far larger
/// than the caches, four independent vector accumulators each, so the memory system, not the adds, is the limit. The bound that
/// a decode step reading B bytes of weights cannot beat is bandwidth / B tokens per second.</summary>
public static class ReadBandwidth
{
    /// <summary>Best of <paramref name="passes"/> passes over <paramref name="megabytes"/> MB with <paramref name="threads"/> threads.</summary>
    public static double Measure(int threads = 1, int passes = 6, int megabytes = 512)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(passes, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(megabytes, 1);
        var buf = GC.AllocateUninitializedArray<long>(megabytes * (1 << 17));
        for (int i = 0; i < buf.Length; i++) buf[i] = i; // touch every page before timing
        long sink = 0;
        double best = 0;
        var parts = new long[threads];
        for (int pass = 0; pass < passes; pass++)
        {
            long t0 = Stopwatch.GetTimestamp();
            if (threads == 1) sink += Sum(buf, 0, buf.Length);
            else
            {
                Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
                {
                    var (s, e) = StaticParallel.Chunk(buf.Length, threads, t);
                    parts[t] = Sum(buf, s, e);
                });
                foreach (var p in parts) sink += p;
            }
            double seconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            best = Math.Max(best, buf.Length * 8.0 / seconds / 1e9);
        }
        GC.KeepAlive(sink);
        return best;
    }

    /// <summary>Σ a[start..end) (wrapping), the work of one thread; public so a test can check it against a plain loop.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static long Sum(long[] a, int start, int end)
    {
        ArgumentNullException.ThrowIfNull(a);
        if ((uint)start > (uint)end || end > a.Length) throw new ArgumentOutOfRangeException(nameof(end), $"range [{start}, {end}) outside the {a.Length} elements");
        var span = a.AsSpan(start, end - start);
        Vector256<long> s0 = default, s1 = default, s2 = default, s3 = default;
        int i = 0;
        for (; i <= span.Length - 16; i += 16)
        {
            s0 += Vector256.Create<long>(span.Slice(i, 4)); s1 += Vector256.Create<long>(span.Slice(i + 4, 4));
            s2 += Vector256.Create<long>(span.Slice(i + 8, 4)); s3 += Vector256.Create<long>(span.Slice(i + 12, 4));
        }
        long r = Vector256.Sum((s0 + s1) + (s2 + s3));
        for (; i < span.Length; i++) r += span[i];
        return r;
    }
}
