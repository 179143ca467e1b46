using System.Runtime.InteropServices;
using BitDistill.Kernels;
using BitDistill.Tensors;

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
    public int Next(Span<float> logits, IReadOnlyCollection<int> seen) => _sampler.Next(logits, Ids(seen));

    /// <summary>Picks the next token from one row of logits on any device (only the chosen id comes back to the host), given the
    /// ids seen so far. The logits may be modified in place.</summary>
    public int Next(Tensor logits, IReadOnlyCollection<int> seen)
    {
        ArgumentNullException.ThrowIfNull(logits);
        return logits.Backend.SampleToken(logits, _sampler, Ids(seen));
    }

    private static ReadOnlySpan<int> Ids(IReadOnlyCollection<int> seen) => seen switch
    {
        List<int> list => CollectionsMarshal.AsSpan(list),
        int[] array => array,
        _ => seen.ToArray(),
    };

    /// <summary>Index of the largest value (the first one on ties).</summary>
    public static int ArgMax(ReadOnlySpan<float> x) => TokenSampler.ArgMax(x);
}
