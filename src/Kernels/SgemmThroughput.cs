namespace BitDistill.Kernels;

/// <summary>Measures <see cref="Sgemm"/> throughput (used by the `bench` verb and the peer comparison, so both time it the same way).</summary>
public static class SgemmThroughput
{
    /// <summary>Median GFLOP/s of <paramref name="runs"/> timed runs of <paramref name="reps"/> products C = A·B (A m×k, B k×n) each,
    /// after warm-up, at the given degree of parallelism.</summary>
    public static double Measure(int m, int k, int n, int threads, int runs = 7, int reps = 10)
    {
        var a = new float[m * k]; var b = new float[k * n]; var c = new float[m * n];
        Philox.Uniform(a, 42, 0, -0.5f, 0.5f);
        Philox.Uniform(b, 43, 0, -0.5f, 0.5f);
        using var _ = KernelContext.Override(degreeOfParallelism: threads);
        for (int i = 0; i < 3; i++) Sgemm.Multiply(false, false, m, n, k, 1f, a, k, b, n, 0f, c, n);
        var times = new double[runs];
        for (int r = 0; r < runs; r++)
        {
            long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
            for (int i = 0; i < reps; i++) Sgemm.Multiply(false, false, m, n, k, 1f, a, k, b, n, 0f, c, n);
            times[r] = System.Diagnostics.Stopwatch.GetElapsedTime(t0).TotalSeconds / reps;
        }
        Array.Sort(times);
        return 2.0 * m * n * k / times[runs / 2] / 1e9;
    }

    /// <summary>GFLOP/s of the current SIMD level's register-tiled micro-kernel alone, on packed panels of an MC×KC block of A and
    /// a KC×NC block of B that sit in cache (best of <paramref name="runs"/>): the ceiling the blocked loop can reach at that blocking.</summary>
    public static unsafe double MeasureMicroKernel(int kc, int mc, int nc, int runs = 7, int reps = 20)
    {
        var level = KernelContext.Current.Simd;
        if (level == SimdLevel.Scalar) throw new InvalidOperationException("The scalar level has no SGEMM micro-kernel.");
        ArgumentOutOfRangeException.ThrowIfLessThan(kc, 1);
        var (mr, nr) = Sgemm.RegisterTile(level);
        mc = Math.Max(mr, mc / mr * mr); nc = Math.Max(nr, nc / nr * nr);
        var pa = new float[mc * kc + 64]; var pb = new float[nc * kc + 64]; var c = new float[mc * nc];
        for (int i = 0; i < pa.Length; i++) pa[i] = 0.001f * (i % 7);
        for (int i = 0; i < pb.Length; i++) pb[i] = 0.001f * (i % 5);
        double best = 0;
        fixed (float* a = pa, b = pb, cc = c)
            for (int r = 0; r < runs; r++)
            {
                long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
                for (int rep = 0; rep < reps; rep++)
                    for (int jr = 0; jr < nc; jr += nr)
                        for (int ir = 0; ir < mc; ir += mr)
                            Sgemm.Kernel(level, kc, a + ir * kc, b + jr * kc, cc + ir * nc + jr, nc, 1f, rep == 0 ? 0f : 1f);
                double s = System.Diagnostics.Stopwatch.GetElapsedTime(t0).TotalSeconds;
                best = Math.Max(best, 2.0 * mc * nc * kc * reps / s / 1e9);
            }
        return best;
    }
}
