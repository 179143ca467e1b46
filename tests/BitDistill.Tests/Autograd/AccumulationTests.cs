using BitDistill.Autograd;
using BitDistill.Tensors;

namespace BitDistill.Tests.Autograd;

/// <summary>Gradient accumulation: two half-batches give the same gradient as the whole batch.</summary>
public class AccumulationTests
{
    [Fact]
    public void TwoHalfBatchesEqualOneFullBatch()
    {
        var w = new Variable(TestUtil.RandN([5, 7], 1), requiresGrad: true);
        var x = TestUtil.RandN([8, 7], 2);
        var t = Tensor.FromArray(new long[] { 0, 1, 2, 3, 4, 0, 1, 2 }, [8]);
        F.CrossEntropy(new Variable(x).MatMul(w.T), t).Backward();
        var full = w.Grad!.ToArray<float>();
        w.Grad = null;
        for (int h = 0; h < 2; h++)
            (F.CrossEntropy(new Variable(x.Narrow(0, 4 * h, 4)).MatMul(w.T), t.Narrow(0, 4 * h, 4)) * 0.5f).Backward();
        Assert.True(TestUtil.RelErr(w.Grad!.ToArray<float>(), full) < 1e-6);
    }
}
