using System.Globalization;
using BitDistill.Kernels;

namespace BitDistill.Bench;

/// <summary>`gemm-tune [kernel] KC,MC,NC ...`: SGEMM GFLOP/s at the benchmark shapes for candidate Vector512 blockings (developer tool).</summary>
public static class GemmTune
{
    /// <summary>Micro-kernel alone on packed panels that sit in cache: the ceiling the blocked loop can reach.</summary>
    public static unsafe void KernelOnly(int mr, int nr, int kc, int mc, int nc)
    {
        var level = KernelSettings.Simd;
        if (level == SimdLevel.Vector512) Sgemm.Blocking512 = new Sgemm.Blocking(mr, nr, kc, mc, nc);
        var pa = new float[mc * kc + 64]; var pb = new float[nc * kc + 64]; var c = new float[mc * nc];
        for (int i = 0; i < pa.Length; i++) pa[i] = 0.001f * (i % 7);
        for (int i = 0; i < pb.Length; i++) pb[i] = 0.001f * (i % 5);
        fixed (float* a = pa, b = pb, cc = c)
        {
            double best = 0;
            for (int r = 0; r < 7; r++)
            {
                long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
                int reps = 20;
                for (int rep = 0; rep < reps; rep++)
                    for (int jr = 0; jr < nc; jr += nr)
                        for (int ir = 0; ir < mc; ir += mr)
                            Sgemm.Kernel(level, kc, a + ir * kc, b + jr * kc, cc + ir * nc + jr, nc, 1f, rep == 0 ? 0f : 1f);
                double s = System.Diagnostics.Stopwatch.GetElapsedTime(t0).TotalSeconds;
                best = Math.Max(best, 2.0 * mc * nc * kc * reps / s / 1e9);
            }
            Console.WriteLine($"kernel-only {level} {mr}x{nr} KC={kc} MC={mc} NC={nc}: {best:F1} GFLOP/s (best of 7)");
        }
    }

    /// <summary>Runs each candidate blocking at 1 thread (or the thread count in BITDISTILL_THREADS).</summary>
    public static int Run(string[] args)
    {
        int threads = int.TryParse(Environment.GetEnvironmentVariable("BITDISTILL_THREADS"), out var t) ? t : 1;
        if (Environment.GetEnvironmentVariable("BITDISTILL_SHARED") == "0") Sgemm.SharedPacking = false;
        var baseline = Sgemm.Blocking512;
        if (args.Length > 0 && args[0] == "kernel")
        {
            foreach (var cand in args[1..])
            {
                var v = cand.Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
                var bl = Sgemm.BlockingFor(KernelSettings.Simd) ?? baseline;
                KernelOnly(bl.MR, bl.NR, v[0], v[1], v[2]);
            }
            Sgemm.Blocking512 = baseline;
            return 0;
        }
        foreach (var cand in args.Length > 0 ? args : [$"{baseline.KC},{baseline.MC},{baseline.NC}"])
        {
            var v = cand.Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
            Sgemm.Blocking512 = baseline with { KC = v[0], MC = v[1], NC = v[2] };
            var shapeFilter = Environment.GetEnvironmentVariable("BITDISTILL_SHAPE");
            var line = string.Join("  ", GemmPeer.Shapes.Where(s => shapeFilter == null || $"{s.M}x{s.K}x{s.N}" == shapeFilter).Select(s => $"{s.M}x{s.K}x{s.N}: {GemmPeer.MeasureSgemm(s.M, s.K, s.N, threads, 5, 5),6:F1}"));
            Console.WriteLine($"{Sgemm.Blocking512.MR}x{Sgemm.Blocking512.NR} KC={v[0],4} MC={v[1],4} NC={v[2],5} t={threads}  {line}");
        }
        Sgemm.Blocking512 = baseline;
        return 0;
    }
}
