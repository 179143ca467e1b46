using System.Text;
using System.Text.RegularExpressions;

namespace BitDistill.Distill.Evaluation;

/// <summary>Corpus BLEU exactly as sacreBLEU 2.x computes it (<c>sacrebleu.corpus_bleu</c> / <c>BLEU.corpus_score</c>): each
/// segment right-stripped and tokenised (13a by default), n-gram matches clipped by the largest count in any reference, the
/// reference length closest to the hypothesis (ties: the shorter), statistics summed over the corpus, then the geometric mean
/// of the smoothed precisions times the brevity penalty, on 0–100. Defaults: 13a, case-sensitive, 4-grams, exp smoothing.</summary>
public static partial class Bleu
{
    // mteval-v13a's language-dependent rules, in order (sacreBLEU's TokenizerRegexp).
    [GeneratedRegex(@"([{-~\[-` -&(-+:-@/])", RegexOptions.CultureInvariant)]
    private static partial Regex Symbols();
    [GeneratedRegex(@"([^0-9])([.,])", RegexOptions.CultureInvariant)]
    private static partial Regex PeriodCommaAfterNonDigit();
    [GeneratedRegex(@"([.,])([^0-9])", RegexOptions.CultureInvariant)]
    private static partial Regex PeriodCommaBeforeNonDigit();
    [GeneratedRegex(@"([0-9])(-)", RegexOptions.CultureInvariant)]
    private static partial Regex DashAfterDigit();

    /// <summary>sacreBLEU's 13a tokenisation of one segment, as tokens: drop "&lt;skipped&gt;", join "-" line breaks, newlines to
    /// spaces, unescape &amp;quot; &amp;amp; &amp;lt; &amp;gt;, then split off symbols and punctuation (periods and commas
    /// stay inside numbers; a dash after a digit is split off) and split on whitespace.</summary>
    public static string[] Tokenize13a(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var line = text.Replace("<skipped>", "", StringComparison.Ordinal)
            .Replace("-\n", "", StringComparison.Ordinal)
            .Replace("\n", " ", StringComparison.Ordinal)
            .Replace("&quot;", "\"", StringComparison.Ordinal)
            .Replace("&amp;", "&", StringComparison.Ordinal)
            .Replace("&lt;", "<", StringComparison.Ordinal)
            .Replace("&gt;", ">", StringComparison.Ordinal);
        line = " " + line + " ";
        line = Symbols().Replace(line, " $1 ");
        line = PeriodCommaAfterNonDigit().Replace(line, "$1 $2 ");
        line = PeriodCommaBeforeNonDigit().Replace(line, " $1 $2");
        line = DashAfterDigit().Replace(line, "$1 $2 ");
        return SplitWhitespace(line);
    }

    /// <summary>The tokens of one segment under <paramref name="options"/> (lowercasing, right-strip, tokenizer).</summary>
    public static string[] Tokenize(string text, BleuOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        var o = options ?? new BleuOptions();
        if (o.Lowercase) text = PythonText.Lower(text);
        text = RightStrip(text);
        return o.Tokenizer == BleuTokenizer.Mteval13a ? Tokenize13a(text) : SplitWhitespace(text);
    }

    /// <summary>Corpus BLEU of <paramref name="hypotheses"/> against one reference each.</summary>
    public static BleuScore CorpusScore(IReadOnlyList<string> hypotheses, IReadOnlyList<string> references, BleuOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(references);
        return CorpusScore(hypotheses, [references], options);
    }

    /// <summary>Corpus BLEU of <paramref name="hypotheses"/> against reference streams shaped as sacreBLEU's: each stream holds one
    /// reference per hypothesis (null entries are skipped, for a varying number of references).</summary>
    public static BleuScore CorpusScore(IReadOnlyList<string> hypotheses, IReadOnlyList<IReadOnlyList<string?>> referenceStreams, BleuOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(hypotheses);
        ArgumentNullException.ThrowIfNull(referenceStreams);
        var o = options ?? new BleuOptions();
        o.Validate();
        if (referenceStreams.Count == 0) throw new ArgumentException("at least one reference stream is needed", nameof(referenceStreams));
        for (int s = 0; s < referenceStreams.Count; s++)
            if (referenceStreams[s].Count != hypotheses.Count)
                throw new ArgumentException($"reference stream {s} has {referenceStreams[s].Count} segments, the hypotheses {hypotheses.Count}", nameof(referenceStreams));
        int orders = o.MaxNgramOrder;
        var correct = new long[orders];
        var total = new long[orders];
        long sysLen = 0, refLen = 0;
        var refMax = new Dictionary<string, int>(StringComparer.Ordinal);
        var refLens = new List<int>();
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < hypotheses.Count; i++)
        {
            var hyp = Tokenize(hypotheses[i] ?? throw new ArgumentException($"hypothesis {i} is null", nameof(hypotheses)), o);
            refMax.Clear(); refLens.Clear();
            foreach (var stream in referenceStreams)
            {
                if (stream[i] is not string r) continue;
                var toks = Tokenize(r, o);
                refLens.Add(toks.Length);
                foreach (var (gram, count) in NGramCounts(toks, orders, vocab))
                    refMax[gram] = Math.Max(refMax.GetValueOrDefault(gram), count);
            }
            if (refLens.Count == 0) throw new ArgumentException($"segment {i} has no reference", nameof(referenceStreams));
            sysLen += hyp.Length;
            refLen += ClosestReferenceLength(hyp.Length, refLens);
            foreach (var (gram, count) in NGramCounts(hyp, orders, vocab))
            {
                int n = Order(gram);
                total[n - 1] += count;
                if (refMax.TryGetValue(gram, out int m)) correct[n - 1] += Math.Min(count, m);
            }
        }
        return FromStatistics(correct, total, checked((int)sysLen), checked((int)refLen), o);
    }

    /// <summary>BLEU from its sufficient statistics (sacreBLEU's <c>BLEU.compute_bleu</c>): matches and hypothesis n-gram
    /// counts per order, hypothesis and reference lengths. No match at any order gives 0 (sacreBLEU #141); otherwise an
    /// order with no hypothesis n-gram ends the product (its log precision is −∞ unless the order is effective-only).</summary>
    public static BleuScore FromStatistics(IReadOnlyList<long> correct, IReadOnlyList<long> total, int sysLen, int refLen, BleuOptions? options = null)
    {
        var o = options ?? new BleuOptions();
        o.Validate();
        int orders = o.MaxNgramOrder;
        if (correct.Count != orders || total.Count != orders)
            throw new ArgumentException($"statistics must have {orders} orders, got {correct.Count} matches and {total.Count} totals");
        double smoothValue = o.SmoothValue ?? (o.Smoothing == BleuSmoothing.AddK ? 1.0 : 0.1);
        double bp = sysLen < refLen ? (sysLen > 0 ? Math.Exp(1 - refLen / (double)sysLen) : 0.0) : 1.0;
        var c = correct.Select(x => (double)x).ToArray();
        var t = total.Select(x => (double)x).ToArray();
        var precisions = new double[orders];
        BleuScore Result(double score) => new() { Score = score, Counts = c, Totals = t, Precisions = precisions, BrevityPenalty = bp, SysLen = sysLen, RefLen = refLen };
        if (c.All(x => x == 0)) return Result(0.0);

        double smoothMteval = 1;
        int effOrder = orders;
        for (int n = 1; n <= orders; n++)
        {
            if (o.Smoothing == BleuSmoothing.AddK && n > 1) { c[n - 1] += smoothValue; t[n - 1] += smoothValue; }
            if (t[n - 1] == 0) break;
            if (o.EffectiveOrder) effOrder = n;
            if (c[n - 1] == 0)
            {
                if (o.Smoothing == BleuSmoothing.Exp) { smoothMteval *= 2; precisions[n - 1] = 100.0 / (smoothMteval * t[n - 1]); }
                else if (o.Smoothing == BleuSmoothing.Floor) precisions[n - 1] = 100.0 * smoothValue / t[n - 1];
            }
            else precisions[n - 1] = 100.0 * c[n - 1] / t[n - 1];
        }
        double logSum = 0;
        for (int n = 0; n < effOrder; n++) logSum += precisions[n] == 0 ? -9999999999.0 : Math.Log(precisions[n]);
        return Result(bp * Math.Exp(logSum / effOrder));
    }

    // sacreBLEU: the reference length closest to the hypothesis length; on a tie the shorter.
    private static int ClosestReferenceLength(int hypLen, List<int> refLens)
    {
        int bestDiff = -1, best = -1;
        foreach (int len in refLens)
        {
            int diff = Math.Abs(hypLen - len);
            if (bestDiff == -1 || diff < bestDiff) { bestDiff = diff; best = len; }
            else if (diff == bestDiff && len < best) best = len;
        }
        return best;
    }

    // n-grams of orders 1..maxOrder, keyed by the order (one char) and each token's id in `vocab` (two chars each), so keys
    // are unambiguous whatever characters the tokens hold.
    private static Dictionary<string, int> NGramCounts(string[] tokens, int maxOrder, Dictionary<string, int> vocab)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        var ids = new int[tokens.Length];
        for (int i = 0; i < tokens.Length; i++)
        {
            if (!vocab.TryGetValue(tokens[i], out ids[i])) { ids[i] = vocab.Count; vocab.Add(tokens[i], ids[i]); }
        }
        var sb = new StringBuilder();
        for (int n = 1; n <= maxOrder; n++)
            for (int i = 0; i + n <= tokens.Length; i++)
            {
                sb.Clear().Append((char)n);
                for (int k = i; k < i + n; k++) sb.Append((char)(ids[k] >> 16)).Append((char)(ids[k] & 0xFFFF));
                var key = sb.ToString();
                counts[key] = counts.GetValueOrDefault(key) + 1;
            }
        return counts;
    }

    private static int Order(string gram) => gram[0];

    // Python's str.split(): runs of whitespace separate, none at the ends.
    private static string[] SplitWhitespace(string s)
    {
        var tokens = new List<string>();
        int start = -1;
        for (int i = 0; i <= s.Length; i++)
        {
            bool space = i == s.Length || PythonText.IsSpace(s[i]);
            if (!space) { if (start < 0) start = i; }
            else if (start >= 0) { tokens.Add(s[start..i]); start = -1; }
        }
        return [.. tokens];
    }

    private static string RightStrip(string s)
    {
        int end = s.Length;
        while (end > 0 && PythonText.IsSpace(s[end - 1])) end--;
        return s[..end];
    }
}
