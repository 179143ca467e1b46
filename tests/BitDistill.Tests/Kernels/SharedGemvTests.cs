using BitDistill.Kernels;

namespace BitDistill.Tests.Kernels;

/// <summary>The shared 16-bit GEMVs (two or three matrices reading one x, their rows split between the threads as one range)
/// equal one call per matrix bit for bit, at every SIMD level on one thread and two, at odd sizes, with FP16 outliers (zeros,
/// subnormals) in every matrix, and refuse mismatched shapes naming what is wrong.</summary>
public sealed class SharedGemvTests
{
    public static TheoryData<SimdLevel, int> LevelsAndThreads()
    {
        var d = new TheoryData<SimdLevel, int>();
        foreach (var l in Enum.GetValues<SimdLevel>().Where(l => l <= KernelContext.HardwareSimd))
            foreach (int t in new[] { 1, 2 }) d.Add(l, t);
        return d;
    }

    private static Half[] Halves(Random rng, int count)
    {
        var h = new Half[count];
        if (count == 0) return h;
        for (int i = 0; i < h.Length; i++) h[i] = (Half)((rng.NextDouble() * 2 - 1) * Math.Pow(2, rng.Next(-12, 3)));
        for (int i = 0; i < count / 50 + 1; i++) h[rng.Next(count)] = BitConverter.UInt16BitsToHalf((ushort)rng.Next(0, 0x400)); // zeros, subnormals
        return h;
    }

    private static ushort[] Bf16s(Random rng, int count) =>
        Enumerable.Range(0, count).Select(_ => (ushort)(BitConverter.SingleToUInt32Bits((float)((rng.NextDouble() * 2 - 1) * Math.Pow(2, rng.Next(-20, 8)))) >> 16)).ToArray();

    // (k, rows of each matrix; 0 = no third matrix): the larger ones give each of two threads rows of more than one matrix
    private static readonly (int K, int[] N)[] Shapes = [(257, [300, 77, 650]), (1030, [9, 40, 0]), (64, [3, 5, 2]), (97, [1, 1, 0]), (1024, [64, 32, 32])];

    [Theory, MemberData(nameof(LevelsAndThreads))]
    public void TheSharedFp16GemvEqualsOneCallPerMatrix(SimdLevel level, int threads)
    {
        using var _ = KernelContext.Override(level, threads);
        var rng = new Random(41 + (int)level * 2 + threads);
        foreach (var (k, ns) in Shapes)
        {
            var w = ns.Select(n => Halves(rng, n * k)).ToArray();
            var o = ns.Select((n, j) => n == 0 ? null : Fp16Outliers.Find(w[j], n, k, 1.0)!).ToArray();
            Assert.All(o, t => Assert.True(t is null || t.Count > 0));
            var x = Enumerable.Range(0, k).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
            var y = ns.Select(n => new float[n]).ToArray();
            var expected = ns.Select(n => new float[n]).ToArray();
            for (int j = 0; j < 3; j++) if (ns[j] > 0) Gemv.MultiplyF16(w[j], ns[j], k, x, expected[j], o[j]!);
            bool third = ns[2] > 0;
            Gemv.MultiplyF16Shared(x, k, w[0], o[0]!, y[0], w[1], o[1]!, y[1], third ? w[2] : default, third ? o[2] : null, third ? y[2] : default);
            for (int j = 0; j < 3; j++) Assert.Equal(expected[j], y[j]);
            // and the one-matrix call equals the reference (so the shared one does too)
            var reference = new float[ns[0]];
            Gemv.MultiplyF16Reference(w[0], ns[0], k, x, reference);
            for (int r = 0; r < ns[0]; r++) Assert.True(Math.Abs(y[0][r] - reference[r]) <= 1e-5 * Math.Max(1, Math.Abs(reference[r])), $"k {k} row {r}: {y[0][r]} vs {reference[r]}");
        }
    }

    [Theory, MemberData(nameof(LevelsAndThreads))]
    public void TheSharedBf16GemvEqualsOneCallPerMatrix(SimdLevel level, int threads)
    {
        using var _ = KernelContext.Override(level, threads);
        var rng = new Random(43 + (int)level * 2 + threads);
        foreach (var (k, ns) in Shapes)
        {
            var w = ns.Select(n => Bf16s(rng, n * k)).ToArray();
            var x = Enumerable.Range(0, k).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
            var y = ns.Select(n => new float[n]).ToArray();
            var expected = ns.Select(n => new float[n]).ToArray();
            for (int j = 0; j < 3; j++) if (ns[j] > 0) Gemv.MultiplyBF16(w[j], ns[j], k, x, expected[j]);
            bool third = ns[2] > 0;
            Gemv.MultiplyBF16Shared(x, k, w[0], y[0], w[1], y[1], third ? w[2] : default, third ? y[2] : default);
            for (int j = 0; j < 3; j++) Assert.Equal(expected[j], y[j]);
        }
    }

    [Fact]
    public void MismatchedSharedShapesAreRefused()
    {
        var w = new Half[6 * 4]; var o = Fp16Outliers.Find(w, 6, 4, 1.0)!;
        var x = new float[4]; var y = new float[6];
        Assert.Contains("x has 3 elements", Assert.Throws<ArgumentException>(() => Gemv.MultiplyF16Shared(new float[3], 4, w, o, y, w, o, y, default, null, default)).Message);
        Assert.ThrowsAny<ArgumentException>(() => Gemv.MultiplyF16Shared(x, 4, w, o, new float[5], w, o, y, default, null, default));
        Assert.Contains("not [5, 4]", Assert.Throws<ArgumentException>(() => Gemv.MultiplyF16Shared(x, 4, w, o, y, w.AsSpan(0, 20), Fp16Outliers.Find(w.AsSpan(0, 20), 4, 5, 1.0)!, new float[5], default, null, default)).Message);
        Assert.Throws<ArgumentNullException>(() => Gemv.MultiplyF16Shared(x, 4, w, o, y, w, o, y, w, null, y));
        Assert.ThrowsAny<ArgumentException>(() => Gemv.MultiplyBF16Shared(x, 4, new ushort[24], y, new ushort[23], y, default, default));
    }
}
