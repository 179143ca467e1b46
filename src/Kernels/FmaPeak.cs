using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace BitDistill.Kernels;

/// <summary>Micro-benchmark of this machine's FP32 fused multiply-add peak (GFLOP/s, an FMA counting as 2 flops),
/// measured with independent accumulator chains so that throughput, not latency, is the limit.</summary>
public static class FmaPeak
{
    // 16 chains need 18 registers with the multiplier and addend: fine with AVX-512's 32, but on a CPU with 16 (AVX2 or older,
    // or DOTNET_EnableAVX512=0) they spilled and the Vector256 "peak" came out at 60 % of the real one. 12 chains still cover an
    // FMA latency of 6 cycles on 2 pipes.
    private const int Chains512 = 16, ChainsNarrow = 12;
    private const long Iterations = 1 << 20;

    /// <summary>Measures the peak with <paramref name="threads"/> threads running at once (best of
    /// <paramref name="repeats"/> rounds); uses the widest vectors the current <see cref="KernelContext.Simd"/> allows.</summary>
    public static double Measure(int threads = 1, int repeats = 5)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(repeats, 1);
        var level = KernelContext.Current.Simd;
        int lanes = level switch
        {
            SimdLevel.Vector512 => 16,
            SimdLevel.Vector256 => 8,
            SimdLevel.Vector128 => 4,
            _ => 1,
        };
        Chains(level, 1 << 12); // JIT and warm-up
        double best = 0;
        for (int r = 0; r < repeats; r++)
        {
            double seconds = threads == 1 ? Time(level) : TimeParallel(level, threads);
            int chains = level == SimdLevel.Vector512 ? Chains512 : ChainsNarrow;
            double gflops = 2.0 * lanes * chains * Iterations * threads / seconds / 1e9;
            best = Math.Max(best, gflops);
        }
        return best;
    }

    private static double Time(SimdLevel level)
    {
        long t0 = Stopwatch.GetTimestamp();
        Chains(level, Iterations);
        return Stopwatch.GetElapsedTime(t0).TotalSeconds;
    }

    private static double TimeParallel(SimdLevel level, int threads)
    {
        // Each thread stamps its own start and end; the span from the first start to the last end is the wall time.
        using var start = new Barrier(threads);
        var begin = new long[threads];
        var end = new long[threads];
        var ts = new Thread[threads];
        for (int t = 0; t < threads; t++)
        {
            int id = t;
            ts[t] = new Thread(() =>
            {
                Chains(level, 1 << 12);
                start.SignalAndWait();
                begin[id] = Stopwatch.GetTimestamp();
                Chains(level, Iterations);
                end[id] = Stopwatch.GetTimestamp();
            }) { IsBackground = true };
            ts[t].Start();
        }
        foreach (var th in ts) th.Join();
        return (end.Max() - begin.Min()) / (double)Stopwatch.Frequency;
    }

    private static float Chains(SimdLevel level, long iterations) => level switch
    {
        SimdLevel.Vector512 => Chains512Wide(iterations),
        SimdLevel.Vector256 => Chains256(iterations),
        SimdLevel.Vector128 => Chains128(iterations),
        _ => ChainsScalar(iterations),
    };

    // acc = acc·m + d converges to d/(1-m): no overflow, no denormals, and the JIT cannot fold it away.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static float Chains512Wide(long iterations)
    {
        var m = Vector512.Create(0.999f); var d = Vector512.Create(1e-3f);
        Vector512<float> a0 = Vector512.Create(0.0f), a1 = Vector512.Create(0.1f), a2 = Vector512.Create(0.2f), a3 = Vector512.Create(0.3f);
        Vector512<float> a4 = Vector512.Create(0.4f), a5 = Vector512.Create(0.5f), a6 = Vector512.Create(0.6f), a7 = Vector512.Create(0.7f);
        Vector512<float> a8 = Vector512.Create(0.8f), a9 = Vector512.Create(0.9f), aa = Vector512.Create(1.0f), ab = Vector512.Create(1.1f);
        Vector512<float> ac = Vector512.Create(1.2f), ad = Vector512.Create(1.3f), ae = Vector512.Create(1.4f), af = Vector512.Create(1.5f);
        for (long i = 0; i < iterations; i++)
        {
            a0 = Vector512.FusedMultiplyAdd(a0, m, d); a1 = Vector512.FusedMultiplyAdd(a1, m, d);
            a2 = Vector512.FusedMultiplyAdd(a2, m, d); a3 = Vector512.FusedMultiplyAdd(a3, m, d);
            a4 = Vector512.FusedMultiplyAdd(a4, m, d); a5 = Vector512.FusedMultiplyAdd(a5, m, d);
            a6 = Vector512.FusedMultiplyAdd(a6, m, d); a7 = Vector512.FusedMultiplyAdd(a7, m, d);
            a8 = Vector512.FusedMultiplyAdd(a8, m, d); a9 = Vector512.FusedMultiplyAdd(a9, m, d);
            aa = Vector512.FusedMultiplyAdd(aa, m, d); ab = Vector512.FusedMultiplyAdd(ab, m, d);
            ac = Vector512.FusedMultiplyAdd(ac, m, d); ad = Vector512.FusedMultiplyAdd(ad, m, d);
            ae = Vector512.FusedMultiplyAdd(ae, m, d); af = Vector512.FusedMultiplyAdd(af, m, d);
        }
        return Vector512.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + aa + ab + ac + ad + ae + af);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static float Chains256(long iterations)
    {
        var m = Vector256.Create(0.999f); var d = Vector256.Create(1e-3f);
        Vector256<float> a0 = Vector256.Create(0.0f), a1 = Vector256.Create(0.1f), a2 = Vector256.Create(0.2f), a3 = Vector256.Create(0.3f);
        Vector256<float> a4 = Vector256.Create(0.4f), a5 = Vector256.Create(0.5f), a6 = Vector256.Create(0.6f), a7 = Vector256.Create(0.7f);
        Vector256<float> a8 = Vector256.Create(0.8f), a9 = Vector256.Create(0.9f), aa = Vector256.Create(1.0f), ab = Vector256.Create(1.1f);
        for (long i = 0; i < iterations; i++)
        {
            a0 = Vector256.FusedMultiplyAdd(a0, m, d); a1 = Vector256.FusedMultiplyAdd(a1, m, d);
            a2 = Vector256.FusedMultiplyAdd(a2, m, d); a3 = Vector256.FusedMultiplyAdd(a3, m, d);
            a4 = Vector256.FusedMultiplyAdd(a4, m, d); a5 = Vector256.FusedMultiplyAdd(a5, m, d);
            a6 = Vector256.FusedMultiplyAdd(a6, m, d); a7 = Vector256.FusedMultiplyAdd(a7, m, d);
            a8 = Vector256.FusedMultiplyAdd(a8, m, d); a9 = Vector256.FusedMultiplyAdd(a9, m, d);
            aa = Vector256.FusedMultiplyAdd(aa, m, d); ab = Vector256.FusedMultiplyAdd(ab, m, d);
        }
        return Vector256.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + aa + ab);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static float Chains128(long iterations)
    {
        var m = Vector128.Create(0.999f); var d = Vector128.Create(1e-3f);
        Vector128<float> a0 = Vector128.Create(0.0f), a1 = Vector128.Create(0.1f), a2 = Vector128.Create(0.2f), a3 = Vector128.Create(0.3f);
        Vector128<float> a4 = Vector128.Create(0.4f), a5 = Vector128.Create(0.5f), a6 = Vector128.Create(0.6f), a7 = Vector128.Create(0.7f);
        Vector128<float> a8 = Vector128.Create(0.8f), a9 = Vector128.Create(0.9f), aa = Vector128.Create(1.0f), ab = Vector128.Create(1.1f);
        for (long i = 0; i < iterations; i++)
        {
            a0 = Vector128.FusedMultiplyAdd(a0, m, d); a1 = Vector128.FusedMultiplyAdd(a1, m, d);
            a2 = Vector128.FusedMultiplyAdd(a2, m, d); a3 = Vector128.FusedMultiplyAdd(a3, m, d);
            a4 = Vector128.FusedMultiplyAdd(a4, m, d); a5 = Vector128.FusedMultiplyAdd(a5, m, d);
            a6 = Vector128.FusedMultiplyAdd(a6, m, d); a7 = Vector128.FusedMultiplyAdd(a7, m, d);
            a8 = Vector128.FusedMultiplyAdd(a8, m, d); a9 = Vector128.FusedMultiplyAdd(a9, m, d);
            aa = Vector128.FusedMultiplyAdd(aa, m, d); ab = Vector128.FusedMultiplyAdd(ab, m, d);
        }
        return Vector128.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + aa + ab);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static float ChainsScalar(long iterations)
    {
        const float m = 0.999f, d = 1e-3f;
        float a0 = 0, a1 = 0.1f, a2 = 0.2f, a3 = 0.3f, a4 = 0.4f, a5 = 0.5f, a6 = 0.6f, a7 = 0.7f;
        float a8 = 0.8f, a9 = 0.9f, aa = 1.0f, ab = 1.1f;
        for (long i = 0; i < iterations; i++)
        {
            a0 = MathF.FusedMultiplyAdd(a0, m, d); a1 = MathF.FusedMultiplyAdd(a1, m, d);
            a2 = MathF.FusedMultiplyAdd(a2, m, d); a3 = MathF.FusedMultiplyAdd(a3, m, d);
            a4 = MathF.FusedMultiplyAdd(a4, m, d); a5 = MathF.FusedMultiplyAdd(a5, m, d);
            a6 = MathF.FusedMultiplyAdd(a6, m, d); a7 = MathF.FusedMultiplyAdd(a7, m, d);
            a8 = MathF.FusedMultiplyAdd(a8, m, d); a9 = MathF.FusedMultiplyAdd(a9, m, d);
            aa = MathF.FusedMultiplyAdd(aa, m, d); ab = MathF.FusedMultiplyAdd(ab, m, d);
        }
        return a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + aa + ab;
    }
}
