using BitDistill.Kernels;

namespace BitDistill.Tests.Kernels;

/// <summary>Non-finite logits stop sampling with a message instead of choosing a meaningless token.</summary>
public class TokenSamplerFiniteTests
{
    [Fact]
    public void NanLogitsAndOverflowingTemperaturesAreErrors()
    {
        float[] nan = [0.1f, float.NaN, 0.3f];
        Assert.Contains("not finite", Assert.Throws<InvalidOperationException>(() => new TokenSampler(new SamplerSettings { Greedy = true }).Next(nan, [])).Message);
        float[] big = [30f, 20f, 10f];
        var e = Assert.Throws<InvalidOperationException>(() => new TokenSampler(new SamplerSettings { Temperature = 1e-38f }).Next(big, []));
        Assert.Contains("temperature", e.Message);
        float[] fine = [0.1f, float.NegativeInfinity, 2f];
        Assert.Equal(2, new TokenSampler(new SamplerSettings { Greedy = true }).Next(fine, [])); // −∞ (a masked token) is allowed
    }
}
