namespace BitDistill.Distill.Evaluation;

/// <summary>The settings of a BLEU computation; the defaults are sacreBLEU's <c>corpus_bleu</c> defaults (13a tokenisation,
/// case-sensitive, 4-grams, exp smoothing, no effective order).</summary>
public sealed record BleuOptions
{
    /// <summary>The tokenizer (default 13a).</summary>
    public BleuTokenizer Tokenizer { get; init; } = BleuTokenizer.Mteval13a;
    /// <summary>Lowercase hypotheses and references first (default false).</summary>
    public bool Lowercase { get; init; }
    /// <summary>How zero precisions are treated (default exp).</summary>
    public BleuSmoothing Smoothing { get; init; } = BleuSmoothing.Exp;
    /// <summary>The value of floor/add-k smoothing; null = sacreBLEU's default (floor 0.1, add-k 1).</summary>
    public double? SmoothValue { get; init; }
    /// <summary>The largest n-gram order (default 4).</summary>
    public int MaxNgramOrder { get; init; } = 4;
    /// <summary>Average only over the n-gram orders the hypotheses have (sacreBLEU's effective_order; default false).</summary>
    public bool EffectiveOrder { get; init; }

    /// <summary>sacreBLEU's <c>raw_corpus_bleu</c>: no tokenisation, floor smoothing, effective order.</summary>
    public static BleuOptions Raw(double? floor = 0.1) => new() { Tokenizer = BleuTokenizer.None, Smoothing = BleuSmoothing.Floor, SmoothValue = floor, EffectiveOrder = true };

    /// <summary>Throws on out-of-range values, naming the field.</summary>
    public void Validate()
    {
        if (MaxNgramOrder < 1) throw new ArgumentOutOfRangeException(nameof(MaxNgramOrder), MaxNgramOrder, "the largest n-gram order must be ≥ 1");
        if (SmoothValue is double v && (double.IsNaN(v) || v < 0)) throw new ArgumentOutOfRangeException(nameof(SmoothValue), v, "the smoothing value must be ≥ 0");
    }
}
