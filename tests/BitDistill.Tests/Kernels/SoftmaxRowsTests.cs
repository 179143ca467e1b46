using BitDistill.Kernels;

namespace BitDistill.Tests;

/// <summary>The one-pass softmax row kernels against their scalar definitions, at odd lengths and every SIMD level.</summary>
public class SoftmaxRowsTests
{
    public static IEnumerable<object[]> Cases() =>
        from level in Enum.GetValues<SimdLevel>().Where(l => l <= KernelContext.HardwareSimd)
        from n in new[] { 1, 3, 7, 15, 17, 33, 100, 257 }
        select new object[] { level, n };

    [Theory, MemberData(nameof(Cases))]
    public void MatchScalarDefinitions(SimdLevel level, int n)
    {
        var r = new Random(n);
        var x = new float[n]; var p = new float[n];
        for (int i = 0; i < n; i++) { x[i] = (float)(r.NextDouble() * 20 - 10); p[i] = (float)r.NextDouble(); }
        if (n > 2) x[1] = float.NegativeInfinity;
        float shift = x.Max();
        using var _ = KernelContext.Override(simd: level);

        var y = new float[n];
        float sum = SoftmaxRows.ExpShiftSum(x, shift, y);
        double expected = 0;
        for (int i = 0; i < n; i++)
        {
            double e = Math.Exp((double)x[i] - shift);
            expected += e;
            Assert.True(Math.Abs(y[i] - e) <= 1e-6 * Math.Max(1, e), $"exp[{i}]: {y[i]} vs {e}");
        }
        Assert.True(Math.Abs(sum - expected) <= 1e-5 * expected, $"sum {sum} vs {expected}");

        var inPlace = (float[])x.Clone();
        Assert.Equal(sum, SoftmaxRows.ExpShiftSum(inPlace, shift), 5);
        var e2 = (float[])x.Clone();
        SoftmaxRows.ExpShift(e2, shift);
        for (int i = 0; i < n; i++) Assert.Equal(y[i], e2[i], 6);

        var d = (float[])x.Clone();
        SoftmaxRows.SubtractMultiply(d, 0.75f, p);
        for (int i = 0; i < n; i++) Assert.Equal((x[i] - 0.75f) * p[i], d[i], 5);
    }
}
