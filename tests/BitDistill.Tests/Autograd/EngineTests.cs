using BitDistill.Autograd;
using BitDistill.Tensors;

namespace BitDistill.Tests.Autograd;

/// <summary>Graph semantics: accumulation, no-grad, detach, release, errors, custom ops, scopes.</summary>
public class EngineTests
{
    [Fact]
    public void GradientsAccumulateAcrossUsesAndCalls()
    {
        var x = new Variable(Tensor.FromArray(2f, 3f), requiresGrad: true);
        var y = (x * x + x * 3f).Sum(); // dy/dx = 2x + 3
        y.Backward();
        Assert.Equal(new[] { 7f, 9f }, x.Grad!.ToArray<float>());
        (x * 2f).Sum().Backward();
        Assert.Equal(new[] { 9f, 11f }, x.Grad!.ToArray<float>());
    }

    [Fact]
    public void NoGradDetachAndErrors()
    {
        var x = new Variable(Tensor.FromArray(1f, 2f), requiresGrad: true);
        using (GradMode.NoGrad())
        {
            var y = x * 2f;
            Assert.True(y.IsLeaf);
            Assert.False(y.RequiresGrad);
            Assert.Throws<InvalidOperationException>(() => y.Sum().Backward());
        }
        var d = (x.Detach() * x).Sum();
        d.Backward();
        Assert.Equal(new[] { 1f, 2f }, x.Grad!.ToArray<float>()); // only the non-detached factor
        var nonScalar = x * 2f;
        var ex = Assert.Throws<InvalidOperationException>(() => nonScalar.Backward());
        Assert.Contains("seed", ex.Message);
        var z = (x * x).Sum();
        z.Backward();
        var ex2 = Assert.Throws<InvalidOperationException>(() => z.Backward());
        Assert.Contains("released", ex2.Message);
        var w = (x * x).Sum();
        w.Backward(retainGraph: true);
        w.Backward(); // allowed once more
    }

    [Fact]
    public void RetainGradKeepsIntermediateGradients()
    {
        var x = new Variable(Tensor.FromArray(1f, -2f), requiresGrad: true);
        var h = (x * 3f).RetainGrad();
        (h * h).Sum().Backward();
        Assert.Equal(new[] { 6f, -12f }, h.Grad!.ToArray<float>());
        Assert.Equal(new[] { 18f, -36f }, x.Grad!.ToArray<float>());
    }

    [Fact]
    public void CustomStraightThroughOp()
    {
        // forward rounds, backward passes the gradient unchanged (the STE that BitLinear builds on)
        var x = new Variable(Tensor.FromArray(0.4f, 1.6f, -0.7f), requiresGrad: true);
        var y = RoundSte.Apply(x);
        Assert.Equal(new[] { 0f, 2f, -1f }, y.Value.ToArray<float>());
        (y * y).Sum().Backward();
        Assert.Equal(new[] { 0f, 4f, -2f }, x.Grad!.ToArray<float>());
    }

    private sealed class RoundSte : Function
    {
        public static Variable Apply(Variable x)
        {
            var v = x.Value.ToArray<float>().Select(f => MathF.Round(f)).ToArray();
            return Record(new RoundSte(), Tensor.FromArray(v, x.Value.ShapeArray), x);
        }
        protected internal override Tensor?[] Backward(Tensor g, bool[] needs) => [g];
    }

    [Fact]
    public void ScopeReturnsBuffersAndKeepsTrainingHeapFlat()
    {
        var w = new Variable(TestUtil.RandN([64, 64], 3), requiresGrad: true);
        var x = TestUtil.RandN([32, 64], 4);
        void Step()
        {
            using var scope = TensorScope.Begin();
            var loss = (new Variable(x).MatMul(w.T).Silu().Square()).Mean();
            loss.Backward();
            Assert.True(scope.OwnedCount > 0);
        }
        Step(); Step();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 5; i++) Step();
        long perStep = (GC.GetAllocatedBytesForCurrentThread() - before) / 5;
        // the float buffers (≥ 8 KB each) come from the pool; what remains is small bookkeeping objects
        Assert.True(perStep < 64 * 64 * 4, $"allocated {perStep} bytes per step");
        Tensor kept;
        using (var s = TensorScope.Begin()) { kept = TestUtil.RandN([40, 40], 5) * 2f; }
        Assert.Throws<ObjectDisposedException>(() => kept.ToArray<float>());
    }
}
