using BitDistill.Distill.Evaluation;

namespace BitDistill.Tests.Distill;

/// <summary>Corpus BLEU as sacreBLEU 2.x computes it: the published cases of sacreBLEU's test/test_bleu.py (README example,
/// max n-gram orders, statistics, smoothing, effective order, degenerate statistics), hand-computed scores, and 13a
/// tokenisation of punctuation, numbers, entities and Unicode.</summary>
public class BleuTests
{
    // sacreBLEU's README example, used by test_bleu.py (two reference streams)
    private static readonly string[] Hyps = ["The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."];
    private static readonly IReadOnlyList<string?>[] Refs =
    [
        ["The dog bit the man.", "It was not unexpected.", "The man bit him first."],
        ["The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."],
    ];

    private static void Near(double expected, double actual, double tol = 1e-8) =>
        Assert.True(Math.Abs(expected - actual) < tol, $"expected {expected}, got {actual}");

    [Fact]
    public void ReadmeExampleGivesSacreBleusPublishedScores()
    {
        // test_bleu.py test_corpus_bleu: default settings and tokenize='13a' → 48.530827; tokenize='none' → 49.1919566;
        // smooth_method='none' → 48.530827 (every order has a match); three empty hypotheses → 0.0
        Near(48.530827, Bleu.CorpusScore(Hyps, Refs).Score, 1e-6);
        Near(48.530827, Bleu.CorpusScore(Hyps, Refs, new BleuOptions { Smoothing = BleuSmoothing.None }).Score, 1e-6);
        Near(49.1919566, Bleu.CorpusScore(Hyps, Refs, new BleuOptions { Tokenizer = BleuTokenizer.None }).Score, 1e-7);
        Assert.Equal(0.0, Bleu.CorpusScore(["", "", ""], Refs).Score);
        // test_max_ngram_order: orders 1..6 → "77.65", "60.50", "53.93", "48.53", "46.14", "43.28"
        string[] expected = ["77.65", "60.50", "53.93", "48.53", "46.14", "43.28"];
        for (int order = 1; order <= 6; order++)
            Assert.Equal(expected[order - 1], Bleu.CorpusScore(Hyps, Refs, new BleuOptions { MaxNgramOrder = order }).Score.ToString("F2", System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public void RawCorpusBleuCasesGiveTheirPublishedScores()
    {
        // test_bleu.py: raw_corpus_bleu(hyps, refs, .01).score / 100 (no tokenisation, floor smoothing, effective order)
        var raw = BleuOptions.Raw(0.01);
        Near(0.0, Bleu.CorpusScore(["this is a test", "another test"], ["ref1", "ref2"], raw).Score / 100);   // no match at all (#141)
        Near(1.0, Bleu.CorpusScore(["this is a test"], ["this is a test"], raw).Score / 100);
        Near(0.223606797749979, Bleu.CorpusScore(["this is a fest"], ["this is a test"], raw).Score / 100);
        // test_effective_order
        Near(0.3678794411714425, Bleu.CorpusScore(["test"], ["a test"], raw).Score / 100);
        Near(1.0, Bleu.CorpusScore(["a test"], ["a test"], raw).Score / 100);
        Near(0.03218297948685433, Bleu.CorpusScore(["a little test"], ["a test"], raw).Score / 100);
        // test_statistics: counts [4, 2, 1, 0], totals [6, 5, 4, 3]
        var stats = Bleu.CorpusScore(["am I am a character sequence"], ["I am a symbol string sequence a a"], raw);
        Assert.Equal([4.0, 2, 1, 0], stats.Counts);
        Assert.Equal([6.0, 5, 4, 3], stats.Totals);
        // test_offset: floor 0 → 0; floor default (0.1) → 0.1555722182
        Near(0.0, Bleu.CorpusScore(["am I am a character sequence"], ["I am a symbol string sequence a a"], BleuOptions.Raw(0.0)).Score / 100);
        Near(0.1555722182, Bleu.CorpusScore(["am I am a character sequence"], ["I am a symbol string sequence a a"], BleuOptions.Raw(null)).Score / 100);
    }

    [Fact]
    public void ScoresFromStatisticsMatchSacreBleusScoringCases()
    {
        // test_scoring: compute_bleu([9,7,5,3], [10,8,6,4], 11, 11) with smooth_method='none' → 0.8375922397
        Near(0.8375922397, Bleu.FromStatistics([9, 7, 5, 3], [10, 8, 6, 4], 11, 11, new BleuOptions { Smoothing = BleuSmoothing.None }).Score / 100);
        // test_degenerate_statistics (floor smoothing with the given value) → exactly 0
        (long[] C, long[] T, int Sys, int Ref, double Floor)[] cases =
        [
            ([0, 0, 0, 0], [4, 4, 2, 1], 0, 1, 0.0), ([0, 0, 0, 0], [10, 11, 12, 0], 14, 10, 0.0), ([0, 0, 0, 0], [0, 0, 0, 0], 0, 0, 0.0),
            ([6, 5, 4, 0], [6, 5, 4, 3], 6, 6, 0.0), ([0, 0, 0, 0], [0, 0, 0, 0], 0, 0, 0.1), ([0, 0, 0, 0], [0, 0, 0, 0], 1, 5, 0.01),
        ];
        foreach (var (c, t, sys, rf, floor) in cases)
            Assert.Equal(0.0, Bleu.FromStatistics(c, t, sys, rf, new BleuOptions { Smoothing = BleuSmoothing.Floor, SmoothValue = floor }).Score);
    }

    [Fact]
    public void HandComputedScoresApplySmoothingAndTheBrevityPenalty()
    {
        var none = new BleuOptions { Tokenizer = BleuTokenizer.None };
        // a b c d e vs a b c d f: precisions 4/5, 3/4, 2/3, 1/2, equal lengths → 100·(0.2)^(1/4)
        Near(100 * Math.Pow(0.2, 0.25), Bleu.CorpusScore(["a b c d e"], ["a b c d f"], none).Score);
        // a b c x vs a b c d: no 4-gram match; exp smoothing makes it 1/(2·1) → 100·(3/4 · 2/3 · 1/2 · 1/2)^(1/4)
        Near(100 * Math.Pow(0.125, 0.25), Bleu.CorpusScore(["a b c x"], ["a b c d"], none).Score);
        Near(0.0, Bleu.CorpusScore(["a b c x"], ["a b c d"], none with { Smoothing = BleuSmoothing.None }).Score);
        // a b c vs a b c d: the hypothesis has no 4-gram, so corpus BLEU is 0 even with exp smoothing; with effective order
        // it is the brevity penalty exp(1 − 4/3) times precision 1
        Near(0.0, Bleu.CorpusScore(["a b c"], ["a b c d"], none).Score);
        var eff = Bleu.CorpusScore(["a b c"], ["a b c d"], none with { EffectiveOrder = true });
        Near(100 * Math.Exp(1 - 4 / 3.0), eff.Score);
        Near(Math.Exp(1 - 4 / 3.0), eff.BrevityPenalty);
        // statistics are summed over the corpus before the geometric mean (not a mean of sentence scores)
        var corpus = Bleu.CorpusScore(["a b c d e", "a b c x"], ["a b c d f", "a b c d"], none);
        Near(100 * Math.Pow(7 / 9.0 * 5 / 7.0 * 3 / 5.0 * 1 / 3.0, 0.25), corpus.Score);
        Assert.Equal((9, 9), (corpus.SysLen, corpus.RefLen));
        // identical corpus → 100; empty reference → 0; both empty → 0
        Near(100, Bleu.CorpusScore(["The cat sat on the mat."], ["The cat sat on the mat."]).Score, 1e-9);
        Assert.Equal(0.0, Bleu.CorpusScore(["a b c d"], [""]).Score);
        Assert.Equal(0.0, Bleu.CorpusScore([""], [""]).Score);
        // the closest reference length, ties to the shorter: hypothesis of 3 between references of 2 and 4 → 2 (no penalty)
        var tie = Bleu.CorpusScore(["a b c"], [["a b"], ["a b c d"]], none with { EffectiveOrder = true });
        Assert.Equal(2, tie.RefLen);
        Assert.Equal(1.0, tie.BrevityPenalty);
        Assert.Throws<ArgumentException>(() => Bleu.CorpusScore(["a", "b"], ["a"]));
    }

    [Fact]
    public void ThirteenATokenisationSplitsPunctuationButNotNumbers()
    {
        Assert.Equal(["Hello", ",", "world", "!", "It", "costs", "$", "3.50", "(", "approx", ".", ")", "in", "2019", "-", "2020", "."],
            Bleu.Tokenize13a("Hello, world! It costs $3.50 (approx.) in 2019-2020."));
        // apostrophes and dashes between letters stay inside words; commas in numbers stay
        Assert.Equal(["It", "wasn't", "well-known", ",", "1,000", "times", "."], Bleu.Tokenize13a("It wasn't well-known, 1,000 times."));
        // entities are unescaped first, <skipped> dropped, a hyphen at a line end joins the lines
        Assert.Equal(["\"", "x", "\"", "&", "y", "<", "z", ">"], Bleu.Tokenize13a("&quot;x&quot; &amp; y &lt;z&gt;<skipped>"));
        Assert.Equal(["hyphenated", "word"], Bleu.Tokenize13a("hyphen-\nated\nword"));
        // non-ASCII letters and symbols outside the ASCII ranges are untouched; a period after any non-digit is split
        Assert.Equal(["Grüße", ",", "Welt…", "日本語", "."], Bleu.Tokenize13a("Grüße, Welt… 日本語."));
        Assert.Empty(Bleu.Tokenize13a("   "));
        // lowercasing is an option; trailing white space is stripped before tokenising
        Assert.Equal(["the", "dog", "."], Bleu.Tokenize("The DOG.\n\t ", new BleuOptions { Lowercase = true }));
        // Python's lower() and split(): İ becomes i + U+0307; U+001F and U+3000 separate tokens, U+200B does not
        Assert.Equal(["i\u0307s"], Bleu.Tokenize("İS", new BleuOptions { Lowercase = true }));
        Assert.Equal(["a", "b", "c\u200bd"], Bleu.Tokenize("a\u001fb\u3000c\u200bd", new BleuOptions { Tokenizer = BleuTokenizer.None }));
    }
}
