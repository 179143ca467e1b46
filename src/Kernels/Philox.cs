using System.Runtime.CompilerServices;

namespace BitDistill.Kernels;

/// <summary>Counter-based random numbers (Philox-4x32-10, Salmon et al. 2011). Element i of a draw depends only on
/// (seed, stream offset, i), so results are identical for every thread count and platform. The transcendental
/// functions used for normals are our own (only IEEE-exact +, ×, ÷, √), not the platform math library.</summary>
public static class Philox
{
    private const uint M0 = 0xD2511F53, M1 = 0xCD9E8D57, W0 = 0x9E3779B9, W1 = 0xBB67AE85;

    /// <summary>Philox-4x32-10 block for a 128-bit counter and a 64-bit key.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (uint, uint, uint, uint) Block(ulong counterLo, ulong counterHi, ulong key)
    {
        uint c0 = (uint)counterLo, c1 = (uint)(counterLo >> 32), c2 = (uint)counterHi, c3 = (uint)(counterHi >> 32);
        uint k0 = (uint)key, k1 = (uint)(key >> 32);
        for (int r = 0; r < 10; r++)
        {
            ulong p0 = (ulong)M0 * c0, p1 = (ulong)M1 * c2;
            uint n0 = (uint)(p1 >> 32) ^ c1 ^ k0;
            uint n2 = (uint)(p0 >> 32) ^ c3 ^ k1;
            c0 = n0; c1 = (uint)p1; c2 = n2; c3 = (uint)p0;
            k0 += W0; k1 += W1;
        }
        return (c0, c1, c2, c3);
    }

    /// <summary>Fills dst with uniform floats in [low, high): element i uses block (offset + i/4).</summary>
    public static void Uniform(Span<float> dst, ulong seed, ulong offset, float low, float high)
    {
        for (int i = 0; i < dst.Length; i += 4)
        {
            var (a, b, c, d) = Block(offset + (ulong)(i >> 2), 0, seed);
            Span<uint> u = [a, b, c, d];
            for (int j = 0; j < 4 && i + j < dst.Length; j++)
            {
                float f = (u[j] >> 8) * (1.0f / 16777216f); // 24 bits: exact in float, in [0, 1)
                dst[i + j] = low + (high - low) * f;
            }
        }
    }

    /// <summary>Fills dst with normal samples (Box–Muller in double): element i uses block (offset + i/4).</summary>
    public static void Normal(Span<float> dst, ulong seed, ulong offset, float mean, float std)
    {
        for (int i = 0; i < dst.Length; i += 4)
        {
            var (a, b, c, d) = Block(offset + (ulong)(i >> 2), 0, seed);
            var (z0, z1) = BoxMuller(a, b);
            var (z2, z3) = BoxMuller(c, d);
            Span<double> z = [z0, z1, z2, z3];
            for (int j = 0; j < 4 && i + j < dst.Length; j++) dst[i + j] = (float)(mean + std * z[j]);
        }
    }

    /// <summary>Normal samples truncated to [mean + lo·std, mean + hi·std] by per-element rejection: attempt k of element i
    /// uses block (offset + i, k) on a separate counter stream, so the result is still independent of threading.</summary>
    public static void TruncatedNormal(Span<float> dst, ulong seed, ulong offset, float mean, float std, float lo = -2f, float hi = 2f)
    {
        if (!(lo < hi)) throw new ArgumentException($"truncation bounds must satisfy lo < hi (got {lo}, {hi})");
        for (int i = 0; i < dst.Length; i++)
        {
            double v = double.NaN;
            for (ulong k = 0; k < 1_000_000; k++)
            {
                var (a, b, c, d) = Block(offset + (ulong)i, k + 1, seed);
                var (z0, z1) = BoxMuller(a, b);
                if (z0 >= lo && z0 <= hi) { v = z0; break; }
                if (z1 >= lo && z1 <= hi) { v = z1; break; }
                var (z2, z3) = BoxMuller(c, d);
                if (z2 >= lo && z2 <= hi) { v = z2; break; }
                if (z3 >= lo && z3 <= hi) { v = z3; break; }
            }
            if (double.IsNaN(v)) throw new InvalidOperationException($"truncated normal: bounds [{lo}, {hi}] are too narrow to sample");
            dst[i] = (float)(mean + std * v);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (double, double) BoxMuller(uint x, uint y)
    {
        double u1 = (x + 1.0) * (1.0 / 4294967296.0); // (0, 1]
        double u2 = y * (1.0 / 4294967296.0);         // [0, 1)
        double r = Math.Sqrt(-2.0 * DeterministicMath.Log(u1));
        var (s, c) = DeterministicMath.SinCos2Pi(u2);
        return (r * c, r * s);
    }
}
