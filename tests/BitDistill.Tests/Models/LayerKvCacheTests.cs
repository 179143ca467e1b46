using BitDistill.Autograd;
using BitDistill.Models.Layers;
using BitDistill.Tensors;

namespace BitDistill.Tests.Models;

/// <summary>A sliding-window layer's KV cache keeps exactly the keys its next query can see, in order, within 2·window.</summary>
public class LayerKvCacheTests
{
    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 1)]
    [InlineData(4, 3)]
    [InlineData(5, 7)]
    public void AWindowedCacheKeepsTheNewestPositionsInOrderWithinTwoWindows(int window, int step)
    {
        using var _ = GradMode.NoGrad();
        var cache = new LayerKvCache(capacity: 1000, window: window);
        int position = 0;
        for (int s = 0; s < 12; s++)
        {
            // keys [1, 1, step, 2] whose values are their positions
            var k = Tensor.FromArray(Enumerable.Range(position, step).SelectMany(p => new float[] { p, -p }).ToArray(), [1, 1, step, 2]);
            var (keys, _) = cache.Append(new Variable(k), new Variable(k.Clone()));
            position += step;
            Assert.Equal(position, cache.Position);
            var held = keys.Value.Contiguous().ToArray<float>();
            int n = held.Length / 2;
            // every key the newest `step` queries can see is there, and they are the last positions, in order
            Assert.True(n >= Math.Min(position, window - 1 + step), $"{n} keys at position {position}");
            for (int i = 0; i < n; i++) Assert.Equal(position - n + i, held[2 * i]);
            Assert.True(cache.Capacity <= Math.Max(2 * window, window - 1 + step), $"capacity {cache.Capacity}");
        }
    }

    [Fact]
    public void AGlobalCacheKeepsEverything()
    {
        using var _ = GradMode.NoGrad();
        var cache = new LayerKvCache();
        for (int s = 0; s < 20; s++) cache.Append(new Variable(Tensor.Zeros([1, 1, 1, 2])), new Variable(Tensor.Zeros([1, 1, 1, 2])));
        Assert.Equal(20, cache.Length);
        Assert.Equal(0, cache.Dropped);
    }
}
