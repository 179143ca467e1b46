using BitDistill.Models.Generation;

namespace BitDistill.Tests.Models;

/// <summary>Sampling semantics (HF order and definitions) and determinism.</summary>
public class SamplerTests
{
    [Fact]
    public void GreedyAndRepetitionPenalty()
    {
        var s = new Sampler(new SamplingOptions { Greedy = true, RepetitionPenalty = 2f });
        Assert.Equal(1, s.Next(new float[] { 1f, 3f, 2f }, []));
        // token 1 seen: 3/2 = 1.5 < 2 → token 2 wins; a negative seen logit is multiplied (more negative)
        var l = new float[] { -1f, 3f, 2f };
        Assert.Equal(2, s.Next(l, [1, 0]));
        Assert.Equal(-2f, l[0]);
    }

    [Fact]
    public void TopKAndTopPRestrictTheSupport()
    {
        var logits = new float[] { 0f, 1f, 2f, 3f, 4f };
        var k = new Sampler(new SamplingOptions { TopK = 2, Seed = 1 });
        for (int i = 0; i < 200; i++) Assert.Contains(k.Next(logits.ToArray(), []), new[] { 3, 4 });
        // softmax of [0..4]: p4 = 0.636, p3 = 0.234 → top-p 0.6 keeps only token 4
        var p = new Sampler(new SamplingOptions { TopP = 0.6f, Seed = 2 });
        for (int i = 0; i < 100; i++) Assert.Equal(4, p.Next(logits.ToArray(), []));
        var p2 = new Sampler(new SamplingOptions { TopP = 0.8f, Seed = 3 });
        var seen = Enumerable.Range(0, 300).Select(_ => p2.Next(logits.ToArray(), [])).ToHashSet();
        Assert.Equal(new HashSet<int> { 3, 4 }, seen);
    }

    [Fact]
    public void SamplingFollowsTheDistributionAndIsSeeded()
    {
        var logits = new float[] { 0f, MathF.Log(3f) }; // p = [0.25, 0.75]
        var s = new Sampler(new SamplingOptions { Seed = 42 });
        int ones = Enumerable.Range(0, 20000).Count(_ => s.Next(logits.ToArray(), []) == 1);
        Assert.InRange(ones / 20000.0, 0.735, 0.765);
        var a = new Sampler(new SamplingOptions { Seed = 7, Temperature = 0.7f });
        var b = new Sampler(new SamplingOptions { Seed = 7, Temperature = 0.7f });
        var la = Enumerable.Range(0, 50).Select(_ => a.Next(new float[] { 0.1f, 0.5f, 0.2f, 0.9f }, [])).ToArray();
        var lb = Enumerable.Range(0, 50).Select(_ => b.Next(new float[] { 0.1f, 0.5f, 0.2f, 0.9f }, [])).ToArray();
        Assert.Equal(la, lb);
        // low temperature concentrates on the argmax
        var cold = new Sampler(new SamplingOptions { Seed = 9, Temperature = 0.05f });
        Assert.All(Enumerable.Range(0, 100), _ => Assert.Equal(3, cold.Next(new float[] { 0.1f, 0.5f, 0.2f, 0.9f }, [])));
    }

    [Fact]
    public void BadOptionsNameTheField()
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new Sampler(new SamplingOptions { TopP = 0 }));
        Assert.Contains("TopP", ex.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new Sampler(new SamplingOptions { Temperature = 0 }));
    }
}
