using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace BitDistill.Kernels;

/// <summary>Micro-benchmark of this machine's streaming read bandwidth (GB/s): threads sum contiguous parts of a 64-byte aligned
/// buffer far larger than the caches, with the widest vectors this CPU has and four independent accumulators, each pass once
/// with a non-temporal software prefetch 4 KB ahead and once without (the best of both), so the memory system, not the adds,
/// is the limit. The bound
/// that a decode step reading B bytes of weights cannot beat is bandwidth / B tokens per second. (A plain 256-bit loop without
/// prefetch measured 31–34 GB/s on one Zen 4 core where this one measured 44–46 and the INT8 head GEMV streamed 39–43: a
/// bound the kernels beat is no bound.)</summary>
public static unsafe class ReadBandwidth
{
    // 4 KB ahead, in longs: in interleaved runs 512 / 1024 / 2048 longs ahead read 45 / 32–45 / 31–43 GB/s on one core
    private const int PrefetchLongs = 512;

    /// <summary>Best of <paramref name="passes"/> passes over <paramref name="megabytes"/> MB with <paramref name="threads"/> threads.</summary>
    public static double Measure(int threads = 1, int passes = 6, int megabytes = 512)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(passes, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(megabytes, 1);
        return Measure(CreateBuffer(megabytes), threads, passes);
    }

    /// <summary>A buffer for <see cref="Measure(long[], int, int)"/>: <paramref name="megabytes"/> MB, pinned (so 64-byte
    /// alignment holds between passes), every page touched, so a caller that probes many times pays for it once.</summary>
    public static long[] CreateBuffer(int megabytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(megabytes, 1);
        var buf = GC.AllocateUninitializedArray<long>(megabytes * (1 << 17) + 8, pinned: true);
        for (int i = 0; i < buf.Length; i++) buf[i] = i; // touch every page before timing
        return buf;
    }

    /// <summary>Best of <paramref name="passes"/> passes over <paramref name="buffer"/> (from <see cref="CreateBuffer"/>) with
    /// <paramref name="threads"/> threads.</summary>
    public static double Measure(long[] buffer, int threads, int passes)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(passes, 1);
        if (buffer.Length < 16 + 8 * threads) throw new ArgumentException($"a buffer of {buffer.Length} longs is too small to measure", nameof(buffer));
        var buf = buffer;
        nint address = (nint)Unsafe.AsPointer(ref buf[0]);
        int first = (int)((64 - (address & 63)) & 63) / sizeof(long);
        int length = (buf.Length - 8) & ~7;
        var level = KernelContext.HardwareSimd; // the machine's bandwidth, whatever level the kernels are forced to
        long sink = 0;
        double best = 0;
        var parts = new long[threads];
        // each pass twice, with and without the software prefetch: which streams faster depends on the CPU (a Zen 4 streamed the
        // FP16 GEMV faster without it, a Zen 5-like VM with it), and the bound is the best this machine showed
        for (int pass = 0; pass < passes; pass++)
            for (int variant = 0; variant < 2; variant++)
            {
                bool prefetch = variant == 0;
                long t0 = Stopwatch.GetTimestamp();
                if (threads == 1) sink += Sum(level, buf, first, first + length, prefetch);
                else
                {
                    Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
                    {
                        var (s, e) = StaticParallel.Chunk(length / 8, threads, t); // whole cache lines per thread
                        parts[t] = Sum(level, buf, first + s * 8, first + e * 8, prefetch);
                    });
                    foreach (var p in parts) sink += p;
                }
                double seconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                best = Math.Max(best, length * 8.0 / seconds / 1e9);
            }
        GC.KeepAlive(sink);
        return best;
    }

    /// <summary>Σ a[start..end) (wrapping) at <see cref="KernelContext.Simd"/>, the work of one thread; public so a test can check
    /// every level against a plain loop.</summary>
    public static long Sum(long[] a, int start, int end) => Sum(KernelContext.Current.Simd, a, start, end, prefetch: true);

    /// <summary>As <see cref="Sum(long[], int, int)"/>, with or without the software prefetch.</summary>
    public static long Sum(long[] a, int start, int end, bool prefetch) => Sum(KernelContext.Current.Simd, a, start, end, prefetch);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static long Sum(SimdLevel level, long[] a, int start, int end, bool prefetch)
    {
        ArgumentNullException.ThrowIfNull(a);
        if ((uint)start > (uint)end || end > a.Length) throw new ArgumentOutOfRangeException(nameof(end), $"range [{start}, {end}) outside the {a.Length} elements");
        long r = 0;
        int i = start;
        fixed (long* p = a)
        {
            // prefetches past the end are harmless (a prefetch never faults)
            if (level >= SimdLevel.Vector512)
            {
                Vector512<long> s0 = default, s1 = default, s2 = default, s3 = default;
                for (; i <= end - 32; i += 32)
                {
                    if (prefetch && Sse.IsSupported)
                    {
                        long* f = p + i + PrefetchLongs;
                        Sse.PrefetchNonTemporal(f); Sse.PrefetchNonTemporal(f + 8); Sse.PrefetchNonTemporal(f + 16); Sse.PrefetchNonTemporal(f + 24);
                    }
                    s0 += Vector512.Load(p + i); s1 += Vector512.Load(p + i + 8); s2 += Vector512.Load(p + i + 16); s3 += Vector512.Load(p + i + 24);
                }
                r = Vector512.Sum((s0 + s1) + (s2 + s3));
            }
            else if (level >= SimdLevel.Vector256)
            {
                Vector256<long> s0 = default, s1 = default, s2 = default, s3 = default;
                for (; i <= end - 16; i += 16)
                {
                    if (prefetch && Sse.IsSupported) { Sse.PrefetchNonTemporal(p + i + PrefetchLongs); Sse.PrefetchNonTemporal(p + i + PrefetchLongs + 8); }
                    s0 += Vector256.Load(p + i); s1 += Vector256.Load(p + i + 4); s2 += Vector256.Load(p + i + 8); s3 += Vector256.Load(p + i + 12);
                }
                r = Vector256.Sum((s0 + s1) + (s2 + s3));
            }
            else if (level >= SimdLevel.Vector128)
            {
                Vector128<long> s0 = default, s1 = default, s2 = default, s3 = default;
                for (; i <= end - 8; i += 8)
                {
                    if (prefetch && Sse.IsSupported) Sse.PrefetchNonTemporal(p + i + PrefetchLongs);
                    s0 += Vector128.Load(p + i); s1 += Vector128.Load(p + i + 2); s2 += Vector128.Load(p + i + 4); s3 += Vector128.Load(p + i + 6);
                }
                r = Vector128.Sum((s0 + s1) + (s2 + s3));
            }
        }
        for (; i < end; i++) r += a[i];
        return r;
    }
}
