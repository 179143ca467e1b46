using BitDistill.Tensors;

namespace BitDistill.Tests.Tensors;

/// <summary>The buffer pool stays bounded when shapes keep changing (task batches padded to their longest row): past
/// <see cref="BufferPool.MaxPooledBytes"/> it drops the least recently used lengths, so the lengths in use now are still
/// reused instead of being refused.</summary>
[Collection("Serial")]
public sealed class BufferPoolTests
{
    [Fact]
    public void AFullPoolDropsTheLeastRecentlyUsedLengthsAndKeepsReusingTheCurrentOnes()
    {
        long saved = BufferPool.MaxPooledBytes;
        BufferPool.Clear();
        try
        {
            BufferPool.MaxPooledBytes = 3 * 4096 * sizeof(float);
            // three lengths fill the pool
            foreach (var n in new[] { 4096, 4097, 4098 }) BufferPool.Return(DType.Float32, new float[n]);
            Assert.True(BufferPool.PooledBytes <= BufferPool.MaxPooledBytes);
            // a new length evicts the oldest (4096), not itself
            var fresh = new float[4099];
            BufferPool.Return(DType.Float32, fresh);
            Assert.Same(fresh, BufferPool.Rent(DType.Float32, 4099, out bool isFresh));
            Assert.False(isFresh);
            BufferPool.Rent(DType.Float32, 4096, out isFresh);
            Assert.True(isFresh);
            Assert.True(BufferPool.PooledBytes <= BufferPool.MaxPooledBytes);
            // a buffer larger than the whole pool is left to the GC
            BufferPool.Return(DType.Float32, new float[4 * 4096]);
            Assert.True(BufferPool.PooledBytes <= BufferPool.MaxPooledBytes);
        }
        finally
        {
            BufferPool.MaxPooledBytes = saved;
            BufferPool.Clear();
        }
    }
}
