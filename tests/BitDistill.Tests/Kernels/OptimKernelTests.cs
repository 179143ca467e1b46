using BitDistill.Kernels;

namespace BitDistill.Tests;

/// <summary>The vectorised, multithreaded AdamW update is bitwise the scalar reference at every SIMD level, thread count
/// and odd length (tails of every vector width), over several steps.</summary>
public class OptimKernelTests
{
    public static IEnumerable<object[]> Cases() =>
        from level in Enum.GetValues<SimdLevel>().Where(l => l <= KernelContext.HardwareSimd)
        from n in new[] { 1, 3, 7, 15, 17, 33, 1000, 12289 }
        from threads in new[] { 1, 2 }
        select new object[] { level, n, threads };

    [Theory, MemberData(nameof(Cases))]
    public void AdamWIsBitwiseTheReference(SimdLevel level, int n, int threads)
    {
        var r = new Random(n);
        float[] R(float s) { var a = new float[n]; for (int i = 0; i < n; i++) a[i] = (float)(r.NextDouble() * 2 - 1) * s; return a; }
        var p = R(1); var m = R(0.1f); var v = R(0.01f);
        for (int i = 0; i < n; i++) v[i] = Math.Abs(v[i]);
        var (p2, m2, v2) = ((float[])p.Clone(), (float[])m.Clone(), (float[])v.Clone());
        for (int step = 1; step <= 3; step++)
        {
            var g = R(step);
            float bc1 = 1 - MathF.Pow(0.9f, step), bc2 = MathF.Sqrt(1 - MathF.Pow(0.999f, step));
            using (KernelContext.Override(simd: level, degreeOfParallelism: threads))
                OptimKernels.AdamW(p, g, m, v, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, bc1, bc2);
            OptimKernels.AdamWReference(p2, g, m2, v2, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, bc1, bc2);
        }
        Assert.Equal(p2, p); Assert.Equal(m2, m); Assert.Equal(v2, v);
    }
}
