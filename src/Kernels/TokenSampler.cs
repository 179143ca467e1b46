namespace BitDistill.Kernels;

/// <summary>Chooses tokens from a row of logits; deterministic for a seed (draw i uses Philox block (seed, i)). Scratch buffers
/// are sized by the first call and reused, so steady-state sampling allocates nothing (the runtime's decode loop relies on it).</summary>
public sealed class TokenSampler
{
    private readonly SamplerSettings _o;
    private ulong _draws;

    // Reused across tokens: no vocabulary-sized allocation per draw. _marked tells which ids the repetition penalty has already
    // touched in this call (each distinct seen id is penalised once, as a set would).
    private float[] _probs = [], _sorted = [];
    private long[] _keys = [];
    private bool[] _marked = [];

    /// <summary>A sampler for <paramref name="settings"/> (validated).</summary>
    public TokenSampler(SamplerSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        _o = settings;
    }

    /// <summary>The settings this sampler applies.</summary>
    public SamplerSettings Settings => _o;

    /// <summary>Random draws made so far (one per non-greedy token).</summary>
    public ulong Draws => _draws;

    // NaN or +∞ (a broken model, or a temperature so small that the division overflows) would choose a meaningless token.
    private void CheckFinite(ReadOnlySpan<float> logits, bool scaled)
    {
        for (int i = 0; i < logits.Length; i++)
            if (float.IsNaN(logits[i]) || float.IsPositiveInfinity(logits[i]))
                throw new InvalidOperationException(scaled
                    ? $"the logits overflow at temperature {_o.Temperature} (id {i}: {logits[i]}); use --greedy or a temperature ≥ 0.001"
                    : $"the model's logits are not finite (id {i}: {logits[i]}); its weights may be damaged");
    }

    /// <summary>Picks the next token from one row of logits, given the ids seen so far (prompt and generated). The logits are
    /// modified in place (penalties, masking).</summary>
    public int Next(Span<float> logits, ReadOnlySpan<int> seen)
    {
        int n = logits.Length;
        if (n == 0) throw new ArgumentException("cannot sample from an empty row of logits", nameof(logits));
        if (_o.RepetitionPenalty != 1f) ApplyRepetitionPenalty(logits, seen);
        CheckFinite(logits, scaled: false);
        if (_o.Greedy) return ArgMax(logits);
        if (_o.Temperature != 1f)
        {
            for (int i = 0; i < n; i++) logits[i] /= _o.Temperature;
            CheckFinite(logits, scaled: true);
        }
        if (_o.TopK > 0 && _o.TopK < n)
        {
            var sorted = Buffer(ref _sorted, n).AsSpan();
            logits.CopyTo(sorted);
            sorted.Sort();
            float kth = sorted[n - _o.TopK];
            for (int i = 0; i < n; i++) if (logits[i] < kth) logits[i] = float.NegativeInfinity;
        }
        var probs = Buffer(ref _probs, n);
        RowKernels.SoftmaxReference(logits, probs);
        if (_o.TopP < 1f)
        {
            // HF TopPLogitsWarper: sort ascending, drop tokens whose cumulative probability is ≤ 1 − p (keep at least one);
            // ties ordered by descending id, a total order, so any sort gives the same permutation. The order is packed into
            // one long per token (a non-negative float's bits order as the float does; n − 1 − id breaks ties), so a primitive
            // sort does it: a comparer would be boxed by Span.Sort, an allocation per token.
            var keys = Buffer(ref _keys, n).AsSpan();
            for (int i = 0; i < n; i++) keys[i] = ((long)BitConverter.SingleToInt32Bits(probs[i]) << 32) | (uint)(n - 1 - i);
            keys.Sort();
            double cum = 0;
            for (int r = 0; r < n - 1; r++)
            {
                int id = n - 1 - (int)(uint)keys[r];
                cum += probs[id];
                if (cum <= 1 - _o.TopP) probs[id] = 0; else break;
            }
            double z = 0;
            for (int i = 0; i < n; i++) z += probs[i];
            for (int i = 0; i < n; i++) probs[i] = (float)(probs[i] / z);
        }
        var (a, _, _, _) = Philox.Block(_draws++, 0xB17D15711, _o.Seed);
        double u = (a >> 8) * (1.0 / 16777216.0);
        double acc = 0;
        int last = -1;
        for (int i = 0; i < n; i++)
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

    private void ApplyRepetitionPenalty(Span<float> logits, ReadOnlySpan<int> seen)
    {
        var marked = Buffer(ref _marked, logits.Length);
        float p = _o.RepetitionPenalty;
        foreach (int id in seen)
        {
            if ((uint)id >= (uint)logits.Length || marked[id]) continue;
            marked[id] = true;
            logits[id] = logits[id] < 0 ? logits[id] * p : logits[id] / p;
        }
        foreach (int id in seen) if ((uint)id < (uint)logits.Length) marked[id] = false;
    }

    private static T[] Buffer<T>(ref T[] b, int n) => b.Length == n ? b : b = new T[n];
}
