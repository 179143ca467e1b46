using System.Globalization;
using BitDistill.Kernels;

namespace BitDistill.Bench;

/// <summary>`gemm-tune [kernel] KC,MC,NC ...`: SGEMM GFLOP/s at the benchmark shapes for candidate blockings of the current SIMD level
/// (BITDISTILL_SIMD lowers it; developer tool).</summary>
public static class GemmTune
{
    /// <summary>Micro-kernel alone on packed panels that sit in cache: the ceiling the blocked loop can reach.</summary>
    public static void KernelOnly(int kc, int mc, int nc)
    {
        var level = KernelContext.Current.Simd;
        var (mr, nr) = Sgemm.RegisterTile(level);
        double best = SgemmThroughput.MeasureMicroKernel(kc, mc, nc);
        Console.WriteLine($"kernel-only {level} {mr}x{nr} KC={kc} MC={mc} NC={nc}: {best:F1} GFLOP/s (best of 7)");
    }

    /// <summary>Runs each candidate blocking at 1 thread (or the thread count in BITDISTILL_THREADS).</summary>
    public static int Run(string[] args)
    {
        int threads = int.TryParse(Environment.GetEnvironmentVariable("BITDISTILL_THREADS"), out var t) ? t : 1;
        var context = KernelContext.Current;
        if (Environment.GetEnvironmentVariable("BITDISTILL_SHARED") == "0") context = context with { SgemmSharedPacking = false };
        var level = context.Simd;
        if (context.SgemmBlockingFor(level) is not { } baseline)
        {
            Console.Error.WriteLine("gemm-tune: the scalar SIMD level has no SGEMM blocking to tune (BITDISTILL_SIMD must be Vector128 or wider).");
            return 1;
        }
        if (args.Length > 0 && args[0] == "kernel")
        {
            using var _ = KernelContext.Use(context);
            foreach (var cand in args[1..])
            {
                var v = cand.Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
                KernelOnly(v[0], v[1], v[2]);
            }
            return 0;
        }
        var (mr, nr) = Sgemm.RegisterTile(level);
        foreach (var cand in args.Length > 0 ? args : [$"{baseline.KC},{baseline.MC},{baseline.NC}"])
        {
            var v = cand.Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
            var blocking = new SgemmBlocking(v[0], v[1], v[2]);
            using var _ = KernelContext.Use(level switch
            {
                SimdLevel.Vector512 => context with { SgemmBlocking512 = blocking },
                SimdLevel.Vector256 => context with { SgemmBlocking256 = blocking },
                _ => context with { SgemmBlocking128 = blocking },
            });
            var shapeFilter = Environment.GetEnvironmentVariable("BITDISTILL_SHAPE");
            var line = string.Join("  ", GemmPeer.Shapes.Where(s => shapeFilter == null || $"{s.M}x{s.K}x{s.N}" == shapeFilter).Select(s => $"{s.M}x{s.K}x{s.N}: {GemmPeer.MeasureSgemm(s.M, s.K, s.N, threads, 5, 5),6:F1}"));
            Console.WriteLine($"{level} {mr}x{nr} KC={v[0],4} MC={v[1],4} NC={v[2],5} t={threads}  {line}");
        }
        return 0;
    }
}
