using BitDistill.Kernels;
using static BitDistill.Tests.TestUtil;

namespace BitDistill.Tests.Kernels;

/// <summary>The runtime's attention over a KV cache against its double-precision reference and against the training kernel
/// (<see cref="AttentionKernels"/>) on the same numbers, at every SIMD level, odd sizes, with one and two threads.</summary>
public sealed class CachedAttentionTests
{
    [Theory]
    [InlineData(4, 2, 16, 0, 7)]    // a prompt, causal within itself
    [InlineData(6, 3, 24, 13, 1)]   // one decode step after 13 cached positions
    [InlineData(8, 8, 64, 40, 5)]   // a later prefill chunk, no grouping
    [InlineData(2, 1, 33, 100, 1)]  // odd head dim
    [InlineData(4, 2, 128, 57, 1)]  // Qwen3's head dim: the register-blocked decode loops, 64 columns at a time
    [InlineData(2, 2, 80, 9, 2)]    // 64 + 16 columns (512-bit) or 2·32 + 16 (256-bit)
    [InlineData(4, 2, 64, 150, 37)] // three tiles of queries over four blocks of keys: the running maximum and sum carried across
    public void MatchesTheReferenceAndTheTrainingKernel(int heads, int kvHeads, int d, int past, int queries)
    {
        int capacity = past + queries + 3, width = heads * d, s = past + queries;
        var q = Rand([queries * width], 1).ToFloatArray();
        var k = Rand([kvHeads * capacity * d], 2).ToFloatArray();
        var v = Rand([kvHeads * capacity * d], 3).ToFloatArray();
        var expected = new float[queries * width];
        CachedAttention.ForwardReference(heads, kvHeads, d, capacity, past, queries, q, k, v, expected);

        // the training kernel on [1, H, T, D] queries and [1, Hkv, S, D] keys gives the same answer
        var qt = new float[heads * queries * d];
        for (int i = 0; i < queries; i++) for (int h = 0; h < heads; h++) Array.Copy(q, i * width + h * d, qt, (h * queries + i) * d, d);
        var ot = new float[qt.Length];
        AttentionKernels.Forward(new AttentionShape(1, heads, kvHeads, queries, s, d, 1f / MathF.Sqrt(d), true), qt, 0, k, 0, v, 0, null,
            ot, 0, new float[heads * queries], 0, kvHeads * capacity * d, capacity * d);
        var training = new float[expected.Length];
        for (int i = 0; i < queries; i++) for (int h = 0; h < heads; h++) Array.Copy(ot, (h * queries + i) * d, training, i * width + h * d, d);
        Assert.True(RelErr(training, expected) <= 1e-5, "training kernel vs reference");

        foreach (var level in SimdLevels())
            foreach (int threads in new[] { 1, 2 })
            {
                using var _ = KernelContext.Override(level, threads);
                var o = new float[expected.Length];
                CachedAttention.Forward(heads, kvHeads, d, capacity, past, queries, q, k, v, o, new float[threads * CachedAttention.ScratchPerThread(heads, kvHeads, d, false)]);
                double e = RelErr(o, expected);
                Assert.True(e <= 1e-5, $"{level}, {threads} threads: relative error {e:E3}");
            }
    }

    [Theory]
    [InlineData(4, 2, 16, 0, 7, 3, 0f)]     // a prompt longer than the window
    [InlineData(6, 3, 24, 13, 1, 5, 2.5f)]  // a decode step: the last 5 keys, soft-capped
    [InlineData(2, 1, 33, 20, 9, 4, 0.7f)]  // a prefill chunk after cached positions, odd head dim
    [InlineData(3, 3, 17, 2, 5, 0, 1.5f)]   // soft-capping only
    [InlineData(4, 1, 32, 130, 21, 70, 1f)] // a window of 70 sliding across blocks, two tiles, a group of four
    public void SlidingWindowAndSoftCappingMatchTheReference(int heads, int kvHeads, int d, int past, int queries, int window, float softcap)
    {
        int capacity = past + queries + 2, width = heads * d;
        var q = Rand([queries * width], 4, -2f, 2f).ToFloatArray();
        var k = Rand([kvHeads * capacity * d], 5, -2f, 2f).ToFloatArray();
        var v = Rand([kvHeads * capacity * d], 6).ToFloatArray();
        float scale = 1f / MathF.Sqrt(11f);
        var expected = new float[queries * width];
        CachedAttention.ForwardReference(heads, kvHeads, d, capacity, past, queries, q, k, v, expected, scale, window, softcap);
        var full = new float[expected.Length];
        CachedAttention.ForwardReference(heads, kvHeads, d, capacity, past, queries, q, k, v, full, scale, 0, 0);
        Assert.True(RelErr(full, expected) > 1e-3, "the window or the cap must change the answer for the test to mean anything");
        foreach (var level in SimdLevels())
            foreach (int threads in new[] { 1, 2 })
            {
                using var _ = KernelContext.Override(level, threads);
                var o = new float[expected.Length];
                CachedAttention.Forward(heads, kvHeads, d, capacity, past, queries, q, k, v, o, new float[threads * CachedAttention.ScratchPerThread(heads, kvHeads, d, false)], scale, window, softcap);
                double e = RelErr(o, expected);
                Assert.True(e <= 1e-5, $"{level}, {threads} threads: relative error {e:E3}");
            }
    }

    [Theory]
    [InlineData(4, 2, 128, 150, 1, 0, 0f)]   // a decode step over three blocks of 64 (the last one partial), Qwen3's head dim
    [InlineData(6, 3, 24, 13, 1, 5, 2.5f)]   // inside one block, windowed and soft-capped
    [InlineData(2, 1, 33, 70, 9, 0, 0f)]     // a prefill chunk across a block boundary, odd head dim (the library loops)
    [InlineData(2, 2, 80, 127, 2, 100, 0f)]  // a window of 100 starting mid-block
    [InlineData(3, 3, 16, 63, 1, 0, 1.5f)]   // exactly one full block
    public void AHalfCacheGivesTheFloatCachesAnswerBitForBit(int heads, int kvHeads, int d, int past, int queries, int window, float softcap)
    {
        int capacity = past + queries + 5, width = heads * d;
        var q = Rand([queries * width], 7, -2f, 2f).ToFloatArray();
        var kh = Rand([kvHeads * capacity * d], 8, -2f, 2f).ToFloatArray().Select(f => (Half)f).ToArray();
        var vh = Rand([kvHeads * capacity * d], 9).ToFloatArray().Select(f => (Half)f).ToArray();
        // zeros, subnormal halves and the largest half go through the conversion too
        kh[3] = (Half)0f; kh[d + 1] = BitConverter.UInt16BitsToHalf(0x0007); vh[5] = BitConverter.UInt16BitsToHalf(0x83FF); vh[2 * d] = Half.MaxValue;
        var k = kh.Select(h => (float)h).ToArray();
        var v = vh.Select(h => (float)h).ToArray();
        float scale = 1f / MathF.Sqrt(d);
        var reference = new float[queries * width];
        CachedAttention.ForwardReference(heads, kvHeads, d, capacity, past, queries, q, k, v, reference, scale, window, softcap);
        foreach (var level in SimdLevels())
            foreach (int threads in new[] { 1, 2 })
            {
                using var _ = KernelContext.Override(level, threads);
                var fromFloat = new float[reference.Length];
                CachedAttention.Forward(heads, kvHeads, d, capacity, past, queries, q, k, v, fromFloat, new float[threads * CachedAttention.ScratchPerThread(heads, kvHeads, d, false)], scale, window, softcap);
                var fromHalf = new float[reference.Length];
                var scratch = new float[threads * CachedAttention.ScratchPerThread(heads, kvHeads, d, halfCache: true)];
                CachedAttention.Forward(heads, kvHeads, d, capacity, past, queries, q, kh, vh, fromHalf, scratch, scale, window, softcap);
                Assert.Equal(fromFloat, fromHalf);
                double e = RelErr(fromHalf, reference);
                Assert.True(e <= 1e-5, $"{level}, {threads} threads: relative error {e:E3}");
            }
    }

    [Fact]
    public void AHalfCacheNeedsRoomForItsConvertedBlocks()
    {
        var q = new float[2 * 8];
        var cache = new Half[10 * 8];
        var o = new float[2 * 8];
        int full = CachedAttention.ScratchPerThread(2, 1, 8, halfCache: false), half = CachedAttention.ScratchPerThread(2, 1, 8, halfCache: true);
        Assert.Equal(2 * CachedAttention.KeyBlock * 8, half - full); // a block of keys and one of values, converted
        var e = Assert.Throws<ArgumentException>(() => CachedAttention.Forward(2, 1, 8, 10, 0, 1, q, cache, cache, o, new float[full], 1f, 0, 0f));
        Assert.Contains($"needs at least {half} per thread", e.Message);
        CachedAttention.Forward(2, 1, 8, 10, 0, 1, q, cache, cache, o, new float[half], 1f, 0, 0f);
    }

    [Fact]
    public void RejectsPositionsBeyondTheCacheAndTooLittleScratch()
    {
        var buf = new float[1024];
        Assert.Throws<ArgumentException>(() => CachedAttention.Forward(2, 1, 8, 10, 8, 3, buf, buf, buf, buf, buf));
        Assert.Throws<ArgumentException>(() => CachedAttention.Forward(2, 1, 8, 10, 0, 3, buf, buf, buf, buf, new float[9]));
        Assert.Throws<ArgumentException>(() => CachedAttention.Forward(3, 2, 8, 10, 0, 3, buf, buf, buf, buf, buf));
        Assert.Throws<ArgumentOutOfRangeException>(() => CachedAttention.Forward(2, 1, 8, 10, 0, 3, buf, buf, buf, buf, buf, 0.5f, -1, 0f));
        Assert.Throws<ArgumentOutOfRangeException>(() => CachedAttention.Forward(2, 1, 8, 10, 0, 3, buf, buf, buf, buf, buf, 0f, 0, 0f));
    }
}
