using BitDistill.Kernels;

namespace BitDistill.Tests.Kernels;

/// <summary>The bfloat16 GEMV (weights widened by a shift in their 32-bit lanes, activations split into even and odd per
/// block) equals its reference at every SIMD level on one thread and two, at odd sizes, and carries Inf and NaN weights.</summary>
public sealed class Bf16GemvTests
{
    public static TheoryData<SimdLevel, int> LevelsAndThreads()
    {
        var d = new TheoryData<SimdLevel, int>();
        foreach (var l in Enum.GetValues<SimdLevel>().Where(l => l <= KernelContext.HardwareSimd))
            foreach (int t in new[] { 1, 2 }) d.Add(l, t);
        return d;
    }

    private static ushort Bf16(float f) => (ushort)(BitConverter.SingleToUInt32Bits(f) >> 16);

    [Theory, MemberData(nameof(LevelsAndThreads))]
    public void TheBf16GemvEqualsTheReference(SimdLevel level, int threads)
    {
        using var _ = KernelContext.Override(level, threads);
        var rng = new Random(23 + (int)level * 2 + threads);
        foreach (var (n, k) in new[] { (5, 257), (9, 1030), (3, 64), (600, 77), (2, 5), (4, 97), (1, 16) })
        {
            var w = new ushort[n * k];
            for (int i = 0; i < w.Length; i++) w[i] = Bf16((float)((rng.NextDouble() * 2 - 1) * Math.Pow(2, rng.Next(-20, 8))));
            w[rng.Next(w.Length)] = 0x0001; // a subnormal float
            var x = Enumerable.Range(0, k).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
            var y = new float[n]; var yr = new float[n];
            Gemv.MultiplyBF16(w, n, k, x, y);
            Gemv.MultiplyBF16Reference(w, n, k, x, yr);
            for (int r = 0; r < n; r++)
            {
                double mass = 0;
                for (int c = 0; c < k; c++) mass += Math.Abs((double)BitConverter.Int32BitsToSingle(w[r * k + c] << 16) * x[c]);
                Assert.True(Math.Abs(y[r] - yr[r]) <= 1e-5 * mass, $"{n}x{k} row {r}: {y[r]} vs {yr[r]} (Σ|w·x| = {mass})");
            }
        }
    }

    [Theory, MemberData(nameof(LevelsAndThreads))]
    public void EveryWeightIsWidenedExactlyInEveryLane(SimdLevel level, int threads)
    {
        using var _ = KernelContext.Override(level, threads);
        var rng = new Random(4);
        const int n = 300, k = 71; // 64 in vectors, 7 in the tail
        var w = new ushort[n * k];
        for (int i = 0; i < w.Length; i++) w[i] = (ushort)rng.Next(0, 0x7F80); // every finite positive pattern range
        for (int col = 0; col < k; col++)
        {
            var x = new float[k];
            x[col] = 1;
            var y = new float[n];
            Gemv.MultiplyBF16(w, n, k, x, y);
            for (int r = 0; r < n; r++) Assert.True(BitConverter.Int32BitsToSingle(w[r * k + col] << 16) == y[r], $"row {r}, column {col}: {y[r]}");
        }
    }

    [Theory, MemberData(nameof(LevelsAndThreads))]
    public void InfinitiesAndNaNsInTheWeightsGiveNonFiniteRows(SimdLevel level, int threads)
    {
        using var _ = KernelContext.Override(level, threads);
        const int n = 4, k = 100;
        var w = Enumerable.Repeat(Bf16(0.5f), n * k).ToArray();
        w[0 * k + 3] = Bf16(float.PositiveInfinity);
        w[1 * k + 99] = Bf16(float.NegativeInfinity);
        w[2 * k + 40] = Bf16(float.NaN);
        var x = Enumerable.Repeat(1f, k).ToArray();
        var y = new float[n];
        Gemv.MultiplyBF16(w, n, k, x, y);
        Assert.Equal(float.PositiveInfinity, y[0]);
        Assert.Equal(float.NegativeInfinity, y[1]);
        Assert.True(float.IsNaN(y[2]));
        Assert.Equal(50f, y[3]);
    }
}
