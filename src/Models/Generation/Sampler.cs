using System.Runtime.InteropServices;
using BitDistill.Kernels;

namespace BitDistill.Models.Generation;

/// <summary>Chooses tokens from logits; deterministic for a seed (draw i uses Philox block (seed, i)). The one implementation is
/// the kernels' <see cref="TokenSampler"/>, shared with the inference runtime, so both pick the same tokens for the same seed.</summary>
public sealed class Sampler
{
    private readonly TokenSampler _sampler;

    /// <summary>A sampler for <paramref name="options"/> (validated).</summary>
    public Sampler(SamplingOptions options) { options.Validate(); _sampler = new TokenSampler(options.ToSettings()); }

    /// <summary>Picks the next token from one row of logits, given the ids seen so far (prompt and generated).
    /// The logits span is modified in place (penalties, masking).</summary>
    public int Next(Span<float> logits, IReadOnlyCollection<int> seen)
    {
        ReadOnlySpan<int> ids = seen switch
        {
            List<int> list => CollectionsMarshal.AsSpan(list),
            int[] array => array,
            _ => seen.ToArray(),
        };
        return _sampler.Next(logits, ids);
    }

    /// <summary>Index of the largest value (the first one on ties).</summary>
    public static int ArgMax(ReadOnlySpan<float> x) => TokenSampler.ArgMax(x);
}
