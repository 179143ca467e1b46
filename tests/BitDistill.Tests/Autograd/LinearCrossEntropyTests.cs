using BitDistill.Autograd;
using BitDistill.Kernels;
using BitDistill.Tensors;

namespace BitDistill.Tests.Autograd;

/// <summary>The fused linear + cross-entropy loss against the composite CrossEntropy(Linear(h, W)) over several row blocks
/// (N &gt; <see cref="BitDistill.Tensors.CpuBackend.LinearCrossEntropyRowBlock"/>, not a multiple of it), with ignored rows, odd
/// sizes and every SIMD level, with and without recording.</summary>
public class LinearCrossEntropyTests
{
    public static IEnumerable<object[]> Levels() => TestUtil.SimdLevels().Select(l => new object[] { l });

    [Theory, MemberData(nameof(Levels))]
    public void MatchesTheComposite(SimdLevel level)
    {
        using var _ = KernelContext.Override(simd: level);
        const int n = 1100, k = 19, c = 37;
        var gen = new Generator(7);
        var hv = Tensor.Normal([n, k], gen); var wv = Tensor.Normal([c, k], gen, 0, 0.5f);
        var t = new long[n];
        var r = new Random(3);
        for (int i = 0; i < n; i++) t[i] = r.NextDouble() < 0.1 ? -100 : r.Next(c);
        var targets = Tensor.FromArray(t, [n]);

        var h1 = new Variable(hv, requiresGrad: true); var w1 = new Variable(wv, requiresGrad: true);
        var fused = F.LinearCrossEntropy(h1, w1, targets);
        (fused * 1.5f).Backward();
        var h2 = new Variable(hv, requiresGrad: true); var w2 = new Variable(wv, requiresGrad: true);
        var composite = F.CrossEntropy(F.Linear(h2, w2), targets);
        (composite * 1.5f).Backward();

        Assert.Equal(composite.Value.Item(), fused.Value.Item(), 5);
        TestUtil.AssertClose(h1.Grad!, h2.Grad!, 1e-5, "dh");
        TestUtil.AssertClose(w1.Grad!, w2.Grad!, 1e-5, "dw");

        using (GradMode.NoGrad())
            Assert.Equal(composite.Value.Item(), F.LinearCrossEntropy(new Variable(hv), new Variable(wv), targets).Value.Item(), 5);
    }
}
