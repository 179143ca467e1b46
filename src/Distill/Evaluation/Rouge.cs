namespace BitDistill.Distill.Evaluation;

/// <summary>ROUGE-N and ROUGE-L as Google's rouge-score package computes them with <c>RougeScorer(["rouge1", "rouge2",
/// "rougeL"])</c> and its defaults: the default tokenizer (lowercase, every run of characters outside [a-z0-9] becomes a
/// space, split on whitespace), no stemming, one reference, and rougeL at sentence level (the LCS of the whole token
/// sequences, not the newline-split rougeLsum).</summary>
public static class Rouge
{
    /// <summary>rouge-score's default tokens: lowercase (Unicode), then only ASCII letters and digits survive; every other
    /// character (punctuation, accented or non-Latin letters, symbols) separates tokens. "Café-au-lait!" → [caf, au, lait].</summary>
    public static string[] Tokenize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var tokens = new List<string>();
        var lower = PythonText.Lower(text);
        int start = -1;
        for (int i = 0; i <= lower.Length; i++)
        {
            bool keep = i < lower.Length && lower[i] is (>= 'a' and <= 'z') or (>= '0' and <= '9');
            if (keep) { if (start < 0) start = i; }
            else if (start >= 0) { tokens.Add(lower[start..i]); start = -1; }
        }
        return [.. tokens];
    }

    /// <summary>All three scores of <paramref name="prediction"/> against <paramref name="reference"/> (rouge-score's
    /// <c>score(target, prediction)</c>: the reference comes first there too).</summary>
    public static RougeScores Score(string reference, string prediction)
    {
        var r = Tokenize(reference);
        var p = Tokenize(prediction);
        return new RougeScores(RougeN(r, p, 1), RougeN(r, p, 2), RougeL(r, p));
    }

    /// <summary>ROUGE-N on tokens: clipped n-gram overlap Σ min(count_ref, count_pred) over the prediction's n-gram count
    /// (precision) and the reference's (recall).</summary>
    public static RougeScore RougeN(IReadOnlyList<string> referenceTokens, IReadOnlyList<string> predictionTokens, int n)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        var refGrams = NGrams(referenceTokens, n);
        var predGrams = NGrams(predictionTokens, n);
        int overlap = 0;
        foreach (var (gram, count) in refGrams)
            if (predGrams.TryGetValue(gram, out int c)) overlap += Math.Min(count, c);
        return RougeScore.FromCounts(overlap, Math.Max(0, predictionTokens.Count - n + 1), Math.Max(0, referenceTokens.Count - n + 1));
    }

    /// <summary>Sentence-level ROUGE-L: the longest common subsequence over the prediction's length (precision) and the
    /// reference's (recall); all zero when either side has no tokens.</summary>
    public static RougeScore RougeL(IReadOnlyList<string> referenceTokens, IReadOnlyList<string> predictionTokens)
    {
        if (referenceTokens.Count == 0 || predictionTokens.Count == 0) return RougeScore.Zero;
        int lcs = LongestCommonSubsequence(referenceTokens, predictionTokens);
        return RougeScore.FromCounts(lcs, predictionTokens.Count, referenceTokens.Count);
    }

    /// <summary>Length of the longest common subsequence of two token sequences (dynamic programming, two rows).</summary>
    public static int LongestCommonSubsequence(IReadOnlyList<string> a, IReadOnlyList<string> b)
    {
        var prev = new int[b.Count + 1];
        var cur = new int[b.Count + 1];
        for (int i = 1; i <= a.Count; i++)
        {
            for (int j = 1; j <= b.Count; j++)
                cur[j] = string.Equals(a[i - 1], b[j - 1], StringComparison.Ordinal) ? prev[j - 1] + 1 : Math.Max(prev[j], cur[j - 1]);
            (prev, cur) = (cur, prev);
        }
        return prev[b.Count];
    }

    // n-grams as their tokens joined by a space (tokens never contain one).
    private static Dictionary<string, int> NGrams(IReadOnlyList<string> tokens, int n)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i + n <= tokens.Count; i++)
        {
            var key = n == 1 ? tokens[i] : string.Join(' ', Enumerable.Range(i, n).Select(k => tokens[k]));
            counts[key] = counts.GetValueOrDefault(key) + 1;
        }
        return counts;
    }
}
