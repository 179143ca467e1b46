using BitDistill.Kernels;

namespace BitDistill.Models.Generation;

/// <summary>How the next token is chosen (Hugging Face generate semantics and order: repetition penalty → temperature →
/// top-k → top-p → sample; greedy takes the argmax after the repetition penalty).</summary>
public sealed record SamplingOptions
{
    /// <summary>Take the most likely token (ignores temperature, top-k, top-p).</summary>
    public bool Greedy { get; init; }
    /// <summary>Softmax temperature (&gt; 0).</summary>
    public float Temperature { get; init; } = 1f;
    /// <summary>Keep only the k most likely tokens (0 = off).</summary>
    public int TopK { get; init; }
    /// <summary>Keep the smallest set of tokens whose probability reaches p (1 = off).</summary>
    public float TopP { get; init; } = 1f;
    /// <summary>HF repetition penalty (1 = off): seen tokens' logits are divided by it when positive, multiplied when negative.</summary>
    public float RepetitionPenalty { get; init; } = 1f;
    /// <summary>Seed of the counter-based generator used for sampling.</summary>
    public ulong Seed { get; init; }

    /// <summary>Throws on out-of-range values, naming the field.</summary>
    public void Validate()
    {
        if (!(Temperature > 0)) throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature, "temperature must be > 0");
        if (TopK < 0) throw new ArgumentOutOfRangeException(nameof(TopK), TopK, "top-k must be ≥ 0");
        if (!(TopP > 0 && TopP <= 1)) throw new ArgumentOutOfRangeException(nameof(TopP), TopP, "top-p must be in (0, 1]");
        if (!(RepetitionPenalty > 0)) throw new ArgumentOutOfRangeException(nameof(RepetitionPenalty), RepetitionPenalty, "repetition penalty must be > 0");
    }
}

/// <summary>Chooses tokens from logits; deterministic for a seed (draw i uses Philox block (seed, i)).</summary>
public sealed class Sampler
{
    private readonly SamplingOptions _o;
    private ulong _draws;

    private float[]? _probs, _sorted;   // reused across tokens: no vocabulary-sized allocation per draw
    private int[]? _idx;

    /// <summary>A sampler for <paramref name="options"/> (validated).</summary>
    public Sampler(SamplingOptions options) { options.Validate(); _o = options; }

    private static float[] Buffer(ref float[]? b, int n) => b is not null && b.Length == n ? b : b = new float[n];

    private int[] IndexBuffer(int n)
    {
        if (_idx is null || _idx.Length != n) _idx = new int[n];
        for (int i = 0; i < n; i++) _idx[i] = i;
        return _idx;
    }

    /// <summary>Picks the next token from one row of logits, given the ids seen so far (prompt and generated).
    /// The logits span is modified in place (penalties, masking).</summary>
    public int Next(Span<float> logits, IReadOnlyCollection<int> seen)
    {
        if (_o.RepetitionPenalty != 1f)
            foreach (var id in seen.Distinct())
                if ((uint)id < (uint)logits.Length)
                    logits[id] = logits[id] < 0 ? logits[id] * _o.RepetitionPenalty : logits[id] / _o.RepetitionPenalty;
        if (_o.Greedy) return ArgMax(logits);
        if (_o.Temperature != 1f) for (int i = 0; i < logits.Length; i++) logits[i] /= _o.Temperature;
        if (_o.TopK > 0 && _o.TopK < logits.Length)
        {
            var sorted = Buffer(ref _sorted, logits.Length);
            logits.CopyTo(sorted);
            Array.Sort(sorted);
            float kth = sorted[^_o.TopK];
            for (int i = 0; i < logits.Length; i++) if (logits[i] < kth) logits[i] = float.NegativeInfinity;
        }
        var probs = Buffer(ref _probs, logits.Length);
        RowKernels.SoftmaxReference(logits, probs);
        if (_o.TopP < 1f)
        {
            // HF TopPLogitsWarper: sort ascending, drop tokens whose cumulative probability is ≤ 1 − p (keep at least one);
            // ties ordered by descending id, a total order, so the unstable sort is deterministic
            var idx = IndexBuffer(probs.Length);
            Array.Sort(idx, (a, b) => probs[a] != probs[b] ? probs[a].CompareTo(probs[b]) : b.CompareTo(a));
            double cum = 0;
            for (int r = 0; r < idx.Length - 1; r++)
            {
                cum += probs[idx[r]];
                if (cum <= 1 - _o.TopP) probs[idx[r]] = 0; else break;
            }
            double z = probs.Sum(p => (double)p);
            for (int i = 0; i < probs.Length; i++) probs[i] = (float)(probs[i] / z);
        }
        var (a, _, _, _) = Philox.Block(_draws++, 0xB17D15711, _o.Seed);
        double u = (a >> 8) * (1.0 / 16777216.0);
        double acc = 0;
        int last = -1;
        for (int i = 0; i < probs.Length; i++)
        {
            if (probs[i] <= 0) continue;
            last = i;
            acc += probs[i];
            if (u < acc) return i;
        }
        return last >= 0 ? last : ArgMax(logits);
    }

    /// <summary>Index of the largest value (the first one on ties).</summary>
    public static int ArgMax(ReadOnlySpan<float> x)
    {
        int best = 0;
        for (int i = 1; i < x.Length; i++) if (x[i] > x[best]) best = i;
        return best;
    }
}
