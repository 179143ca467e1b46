using BitDistill.Kernels;

namespace BitDistill.Tests;

/// <summary>The tempered-KL and relation-KL row kernels (KL and gradient in one pass) against their definitions in double,
/// at odd widths, for close and for distant distributions, at every SIMD level.</summary>
public class DistillationKernelTests
{
    public static IEnumerable<object[]> Cases() =>
        from level in Enum.GetValues<SimdLevel>().Where(l => l <= KernelContext.HardwareSimd)
        from n in new[] { 1, 5, 17, 31, 257, 3001 }
        from close in new[] { true, false }
        select new object[] { level, n, close };

    [Theory, MemberData(nameof(Cases))]
    public void TemperedKlRowMatchesTheDefinition(SimdLevel level, int n, bool close)
    {
        var r = new Random(n * 2 + (close ? 1 : 0));
        var s = new float[n]; var t = new float[n];
        for (int i = 0; i < n; i++)
        {
            s[i] = (float)(r.NextDouble() * 20 - 10);
            t[i] = close ? s[i] + (float)(r.NextDouble() * 0.2 - 0.1) : (float)(r.NextDouble() * 20 - 10);
        }
        const double tau = 3.0; const float scale = 0.41f;
        double ms = s.Max() / tau, mt = t.Max() / tau;
        double lseS = ms + Math.Log(s.Sum(x => Math.Exp(x / tau - ms))), lseT = mt + Math.Log(t.Sum(x => Math.Exp(x / tau - mt)));
        double klRef = 0; var gRef = new double[n];
        for (int i = 0; i < n; i++)
        {
            double lps = s[i] / tau - lseS, lpt = t[i] / tau - lseT;
            klRef += Math.Exp(lpt) * (lpt - lps);
            gRef[i] = scale * (Math.Exp(lps) - Math.Exp(lpt));
        }
        float kl;
        using (KernelContext.Override(simd: level)) kl = DistillationKernels.TemperedKlAndGrad(s, t, (float)(1 / tau), scale, new float[n + 3]);
        Assert.True(Math.Abs(kl - klRef) <= 1e-6 + 1e-4 * Math.Abs(klRef), $"kl {kl} vs {klRef}");
        for (int i = 0; i < n; i++)
            Assert.True(Math.Abs(s[i] - gRef[i]) <= 1e-6 * scale + 1e-4 * Math.Abs(gRef[i]), $"g[{i}] = {s[i]}, expected {gRef[i]}");
    }

    [Theory, MemberData(nameof(Cases))]
    public void RelationKlRowMatchesTheDefinition(SimdLevel level, int n, bool close)
    {
        var r = new Random(n * 3 + (close ? 1 : 0));
        var s = new float[n]; var t = new float[n];
        for (int i = 0; i < n; i++)
        {
            s[i] = (float)(r.NextDouble() * 16 - 8);
            t[i] = close ? s[i] + (float)(r.NextDouble() * 0.2 - 0.1) : (float)(r.NextDouble() * 16 - 8);
        }
        if (n > 4) { s[n / 2] = t[n / 2] = -1e9f; } // a masked key: no mass in either row
        double ms = s.Max(), mt = t.Max();
        double lseS = ms + Math.Log(s.Sum(x => Math.Exp(x - ms))), lseT = mt + Math.Log(t.Sum(x => Math.Exp(x - mt)));
        double klRef = 0; var gRef = new double[n];
        for (int i = 0; i < n; i++)
        {
            double lps = s[i] - lseS, lpt = t[i] - lseT;
            klRef += Math.Exp(lpt) * (lpt - lps);
            gRef[i] = Math.Exp(lps) - Math.Exp(lpt);
        }
        double kl;
        using (KernelContext.Override(simd: level)) kl = DistillationKernels.RelationKlAndGrad(s, t, new float[n + 3]);
        Assert.True(Math.Abs(kl - klRef) <= 1e-6 + 1e-4 * Math.Abs(klRef), $"kl {kl} vs {klRef}");
        for (int i = 0; i < n; i++)
            Assert.True(Math.Abs(s[i] - gRef[i]) <= 1e-7 + 1e-4 * Math.Abs(gRef[i]), $"g[{i}] = {s[i]}, expected {gRef[i]}");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(15)]
    [InlineData(16)]
    [InlineData(37)]
    [InlineData(257)]
    public void AddingTheTransposeInTilesEqualsThePlainLoop(int n)
    {
        var r = new Random(n);
        var g = Enumerable.Range(0, n * n).Select(_ => (float)(r.NextDouble() * 2 - 1)).ToArray();
        g[0] = float.NaN; // a NaN stays in its own entry and its mirror
        var want = g.ToArray();
        DistillationKernels.AddTransposeInPlaceReference(want, n);
        DistillationKernels.AddTransposeInPlace(g, n);
        Assert.Equal(want, g);
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) Assert.Equal(g[i * n + j], g[j * n + i]);
    }
}
