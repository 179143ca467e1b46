using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using BitDistill.Kernels;

namespace BitDistill.Bench;

/// <summary>`ternary` command: ternary×INT8 GEMV vs float32 and FP16-weight GEMV with weights streamed from memory, against a measured read bandwidth.</summary>
public static unsafe class TernaryBench
{
    private const long StreamBytes = 320L << 20; // total weight copies per case: well above the 32 MB L3

    /// <summary>Runs the benchmark; options: --quick (fewer shapes and samples), --repeat R (take the quietest of R medians),
    /// --cputime (CPU time per call on one thread instead of the wall-clock tables).</summary>
    public static void Run(string[] args)
    {
        bool quick = args.Contains("--quick");
        int repeat = args.SkipWhile(a => a != "--repeat").Skip(1).Select(int.Parse).FirstOrDefault(quick ? 1 : 3);
        if (args.Contains("--cputime")) { CpuTime(repeat); return; }
        int[] threads = [1, 2];
        Console.WriteLine($"Ternary path {TernaryGemm.PathName}, {Environment.ProcessorCount} cores; µs = median of one run, the quietest of {repeat} runs");

        var bw = new Dictionary<int, double>();
        foreach (int t in threads) bw[t] = Best(repeat, () => MemoryBandwidth(t, quick));
        Console.WriteLine();
        Console.WriteLine("| Measured streaming read (512 MB) | threads | GB/s |");
        Console.WriteLine("|---|---:|---:|");
        foreach (int t in threads) Console.WriteLine($"| sum of int64 lanes, Vector512 loads | {t} | {bw[t]:F1} |");

        var shapes = quick ? new[] { (4096, 4096) } : new[] { (4096, 4096), (4096, 14336), (14336, 4096) };
        Console.WriteLine();
        Console.WriteLine("| N×K (out×in) | kernel | threads | µs / GEMV | weight MB | weight GB/s | % of read BW |");
        Console.WriteLine("|---|---|---:|---:|---:|---:|---:|");
        foreach (var (n, k) in shapes)
        {
            var x = RandomFloats(k, 7);
            var y = new float[n];
            foreach (var kernel in new[] { "ternary i2 (x→int8 + GEMV)", "ternary i2, in cache (1 copy)", "fp16 weights", "fp32" })
            {
                var (bytes, call) = Prepare(kernel, n, k, x, y);
                foreach (int t in threads)
                {
                    double us = Quietest(repeat, t, call, quick);
                    double gbs = bytes / (us * 1e3);
                    string pct = kernel.Contains("in cache") ? "–" : $"{100 * gbs / bw[t]:F0} %";
                    Console.WriteLine($"| {n}×{k} | {kernel} | {t} | {us:F1} | {bytes / 1e6:F1} | {gbs:F1} | {pct} |");
                }
                call = null!;
                GC.Collect();
            }
        }

        // Batched: 16 tokens share each decoded weight block 4 at a time.
        if (!quick)
        {
            Console.WriteLine();
            Console.WriteLine("| ternary GEMM, weights from memory | threads | µs / call | µs / token |");
            Console.WriteLine("|---|---:|---:|---:|");
            foreach (int m in new[] { 16 })
            {
                var (_, call) = Prepare("ternary", 4096, 4096, RandomFloats(m * 4096, 3), new float[m * 4096], m);
                foreach (int t in threads)
                {
                    double us = Quietest(repeat, t, call, quick);
                    Console.WriteLine($"| 4096×4096, M = {m} | {t} | {us:F1} | {us / m:F1} |");
                }
            }
        }
    }

    /// <summary>The lowest of <paramref name="repeat"/> medians at <paramref name="threads"/> threads (other users share the CPU).</summary>
    private static double Quietest(int repeat, int threads, Action call, bool quick)
    {
        using var _ = KernelContext.Override(degreeOfParallelism: threads);
        double best = double.MaxValue;
        for (int i = 0; i < repeat; i++) best = Math.Min(best, TimeUs(call, quick));
        return best;
    }

    private static double Best(int repeat, Func<double> run)
    {
        double best = double.MinValue;
        for (int i = 0; i < repeat; i++) best = Math.Max(best, run());
        return best;
    }

    private static float[] RandomFloats(int n, int seed)
    {
        var rng = new Random(seed);
        var r = new float[n];
        for (int i = 0; i < n; i++) r[i] = (float)(rng.NextDouble() * 2 - 1);
        return r;
    }

    /// <summary>Builds enough distinct weight copies that one pass over them exceeds the caches; returns the bytes one call streams and the call.</summary>
    private static (long Bytes, Action Call) Prepare(string kernel, int n, int k, float[] x, float[] y, int m = 1)
    {
        var rng = new Random(n + k);
        if (kernel.StartsWith("ternary"))
        {
            var q = new sbyte[(long)n * k];
            for (long i = 0; i < q.Length; i++) q[i] = (sbyte)rng.Next(-1, 2);
            var first = PackedTernaryMatrix.FromCodes(q, n, k, TernaryScaleMode.PerTensor, [0.02f]);
            int copies = kernel.Contains("in cache") ? 1 : (int)Math.Max(2, StreamBytes / first.ByteCount);
            var ws = new PackedTernaryMatrix[copies];
            ws[0] = first;
            for (int i = 1; i < copies; i++) ws[i] = PackedTernaryMatrix.FromPacked(first.Data, n, k, TernaryScaleMode.PerTensor, [0.02f]);
            int next = 0;
            return (first.ByteCount, () => { TernaryLinear.Forward(x, m, ws[next], y); next = (next + 1) % copies; });
        }
        if (kernel.StartsWith("fp16"))
        {
            long bytes = (long)n * k * 2;
            int copies = (int)Math.Max(2, StreamBytes / bytes);
            var ws = new Half[copies][];
            for (int c = 0; c < copies; c++)
            {
                ws[c] = GC.AllocateUninitializedArray<Half>(n * k);
                for (int i = 0; i < ws[c].Length; i++) ws[c][i] = (Half)((rng.Next(2001) - 1000) * 1e-4f);
            }
            int next = 0;
            return (bytes, () => { Gemv.MultiplyF16(ws[next], n, k, x, y); next = (next + 1) % copies; });
        }
        else
        {
            long bytes = (long)n * k * 4;
            int copies = (int)Math.Max(2, StreamBytes / bytes);
            var ws = new float[copies][];
            for (int c = 0; c < copies; c++)
            {
                ws[c] = GC.AllocateUninitializedArray<float>(n * k);
                for (int i = 0; i < ws[c].Length; i++) ws[c][i] = (rng.Next(2001) - 1000) * 1e-4f;
            }
            int next = 0;
            return (bytes, () => { Gemv.MultiplyF32(ws[next], n, k, x, y); next = (next + 1) % copies; });
        }
    }

    /// <summary>Median µs of one call over ~0.4 s (after a warm-up pass).</summary>
    private static double TimeUs(Action call, bool quick)
    {
        var budget = Stopwatch.Frequency * (quick ? 0.15 : 0.4);
        for (int i = 0; i < 20; i++) call();
        var samples = new List<double>(4096);
        long start = Stopwatch.GetTimestamp();
        while (Stopwatch.GetTimestamp() - start < budget || samples.Count < 30)
        {
            long t0 = Stopwatch.GetTimestamp();
            call();
            samples.Add((Stopwatch.GetTimestamp() - t0) * 1e6 / Stopwatch.Frequency);
        }
        samples.Sort();
        return samples[samples.Count / 2];
    }

    /// <summary>CPU time (not wall time, so descheduling by other users does not count) per call, 1 thread: the lowest of
    /// <paramref name="repeat"/> passes. GEMV at both shapes with the weights in cache (1 copy) and streamed from memory
    /// (copies well above L3), and small batches (M = 4, 16) streamed.</summary>
    private static void CpuTime(int repeat)
    {
        using var _ = KernelContext.Override(degreeOfParallelism: 1);
        Console.WriteLine($"Ternary path {TernaryGemm.PathName}; CPU µs per call, 1 thread, lowest of {repeat} passes");
        Console.WriteLine();
        Console.WriteLine("| N×K | M | weights | CPU µs / call | CPU µs / token | weight GB per CPU-s |");
        Console.WriteLine("|---|---:|---|---:|---:|---:|");
        var cases = new (int N, int K, int M, bool Stream)[]
        {
            (4096, 4096, 1, false), (4096, 4096, 1, true), (4096, 14336, 1, false), (4096, 14336, 1, true),
            (4096, 4096, 4, true), (4096, 4096, 16, true),
        };
        foreach (var (n, k, m, stream) in cases)
        {
            var (bytes, call) = Prepare(stream ? "ternary" : "ternary in cache", n, k, RandomFloats(m * k, 1), new float[m * n], m);
            for (int i = 0; i < 50; i++) call();
            int calls = (int)Math.Clamp(400_000_000L / ((long)n * k * m / 8 + 1), 200, 4000);
            double best = double.MaxValue;
            var p = Process.GetCurrentProcess();
            for (int r = 0; r < repeat; r++)
            {
                p.Refresh();
                var t0 = p.TotalProcessorTime;
                for (int i = 0; i < calls; i++) call();
                p.Refresh();
                best = Math.Min(best, (p.TotalProcessorTime - t0).TotalMicroseconds / calls);
            }
            Console.WriteLine($"| {n}×{k} | {m} | {(stream ? "streamed" : "in cache")} | {best:F1} | {best / m:F1} | {bytes / (best * 1e3):F1} |");
            call = null!;
            GC.Collect();
        }
    }

    private static long[]? _bwBuffer;

    /// <summary>Streaming-read bandwidth over a 512 MB buffer, each thread summing a contiguous half: best of several passes, GB/s.</summary>
    private static double MemoryBandwidth(int threads, bool quick)
    {
        const long bytes = 512L << 20;
        _bwBuffer ??= GC.AllocateArray<long>((int)(bytes / 8), pinned: true);
        var buf = _bwBuffer;
        if (buf[1] == 0) for (int i = 0; i < buf.Length; i++) buf[i] = i;
        long sink = 0;
        double best = 0;
        for (int pass = 0; pass < (quick ? 4 : 10); pass++)
        {
            long t0 = Stopwatch.GetTimestamp();
            if (threads == 1) sink += SumRange(buf, 0, buf.Length);
            else
            {
                var parts = new long[threads];
                System.Threading.Tasks.Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
                {
                    var (s, e) = StaticParallel.Chunk(buf.Length, threads, t);
                    parts[t] = SumRange(buf, s, e);
                });
                sink += parts.Sum();
            }
            double s = (Stopwatch.GetTimestamp() - t0) / (double)Stopwatch.Frequency;
            best = Math.Max(best, bytes / s / 1e9);
        }
        GC.KeepAlive(sink);
        return best;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static long SumRange(long[] a, int start, int end)
    {
        fixed (long* p = a)
        {
            Vector512<long> s0 = default, s1 = default, s2 = default, s3 = default;
            long i = start;
            for (; i <= end - 32; i += 32)
            {
                s0 += Vector512.Load(p + i); s1 += Vector512.Load(p + i + 8);
                s2 += Vector512.Load(p + i + 16); s3 += Vector512.Load(p + i + 24);
            }
            long r = Vector512.Sum((s0 + s1) + (s2 + s3));
            for (; i < end; i++) r += p[i];
            return r;
        }
    }
}
