namespace BitDistill.Distill.Evaluation;

/// <summary>How BLEU treats an n-gram order with no match (sacreBLEU's smooth_method; Chen and Cherry, WMT 2014).</summary>
public enum BleuSmoothing
{
    /// <summary>No smoothing: a zero precision makes the score 0.</summary>
    None,
    /// <summary>Method 1: a zero match count counts as the smoothing value (default 0.1).</summary>
    Floor,
    /// <summary>Method 2: the smoothing value (default 1) is added to matches and totals of orders 2 and up.</summary>
    AddK,
    /// <summary>Method 3, NIST's (mteval-v13a.pl), sacreBLEU's default: the k-th zero precision becomes 1 / (2^k · total).</summary>
    Exp,
}
