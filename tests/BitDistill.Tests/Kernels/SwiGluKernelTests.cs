using BitDistill.Kernels;

namespace BitDistill.Tests;

/// <summary>The fused SwiGLU forward and backward kernels against their scalar references at odd lengths (tails of every
/// vector width and of the 1024-element stack chunk) and every SIMD level.</summary>
public class SwiGluKernelTests
{
    public static IEnumerable<object[]> Cases() =>
        from level in Enum.GetValues<SimdLevel>().Where(l => l <= KernelContext.HardwareSimd)
        from n in new[] { 1, 3, 7, 15, 17, 33, 1023, 1025, 5000 }
        select new object[] { level, n };

    [Theory, MemberData(nameof(Cases))]
    public void MatchesTheReference(SimdLevel level, int n)
    {
        var r = new Random(n);
        float[] R() { var a = new float[n]; for (int i = 0; i < n; i++) a[i] = (float)(r.NextDouble() * 16 - 8); return a; }
        var gate = R(); var up = R(); var g = R();
        var y = new float[n]; var da = new float[n]; var du = new float[n];
        var ry = new float[n]; var rda = new float[n]; var rdu = new float[n];
        using (KernelContext.Override(simd: level))
        {
            BackwardKernels.SwiGlu(gate, up, y);
            BackwardKernels.SwiGluBackward(gate, up, g, da, du);
        }
        BackwardKernels.SwiGluReference(gate, up, ry);
        BackwardKernels.SwiGluBackwardReference(gate, up, g, rda, rdu);
        for (int i = 0; i < n; i++)
        {
            Assert.True(Math.Abs(y[i] - ry[i]) <= 1e-5f * (1 + Math.Abs(ry[i])), $"y[{i}] {y[i]} vs {ry[i]}");
            Assert.True(Math.Abs(da[i] - rda[i]) <= 1e-5f * (1 + Math.Abs(rda[i])), $"dgate[{i}] {da[i]} vs {rda[i]}");
            Assert.True(Math.Abs(du[i] - rdu[i]) <= 1e-5f * (1 + Math.Abs(rdu[i])), $"dup[{i}] {du[i]} vs {rdu[i]}");
        }
    }
}
