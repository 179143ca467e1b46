using BitDistill.Models;
using BitDistill.Models.Generation;

namespace BitDistill.Distill.Comparison;

/// <summary>Greedy decode speed of a model on this CPU: one warm-up generation, then the best of two timed ones of
/// <c>tokens</c> new tokens each (stop tokens ignored so every run decodes the same length), batch 1, with the KV cache.</summary>
public static class DecodeSpeed
{
    /// <summary>Decoded tokens per second after <paramref name="prompt"/>.</summary>
    public static double Measure(CausalLanguageModel model, int[] prompt, int tokens)
    {
        if (tokens < 2) throw new ArgumentOutOfRangeException(nameof(tokens), "measure at least 2 tokens");
        var gen = new TextGenerator(model);
        var options = new GenerationOptions { MaxNewTokens = tokens, StopTokenIds = Array.Empty<int>(), Sampling = new() { Greedy = true } };
        gen.Generate(prompt, options with { MaxNewTokens = 4 });
        return Enumerable.Range(0, 2).Max(_ => gen.Generate(prompt, options).DecodeTokensPerSecond);
    }
}
