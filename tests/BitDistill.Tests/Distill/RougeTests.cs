using BitDistill.Distill.Evaluation;

namespace BitDistill.Tests.Distill;

/// <summary>ROUGE as Google's rouge-score computes it by default: its own test cases (rouge/rouge_scorer_test.py, which take
/// their "ground truth" from ROUGE-1.5.5 runs), hand-computed scores, and the tokenizer's edge cases.</summary>
public class RougeTests
{
    private const double Tol = 1e-12;

    // rouge/testdata/target.txt and prediction.txt of google-research/rouge (the first two lines of each).
    private const string Target0 = "ZfbCUIUuePaiLVUlCaUXxkpu XPeWing tUHfPMuZ',-Xd Y BrUgVJing M-HV.-DgdDaY.rFDJCRing Ht-LM EKBDXkME,yz'RBr q'wtion wIojNbN wL,b .a-'XdQggyFl jB-RPP'iyOIcUxer tKM L\n";
    private const string Target1 = "KsJdPByEtAor fE-Qg Dpdbring cw-WeFyu vC MoBL Xdn g wkvcEiGvKtion BDFhrpMtion psing sbKao Q m qiing LMmer HqqLFXe,XPY,J XsurkMer ,ed nB'wH'bWVHjWFEing tQ.saefZwJtKrTlixYpMMsJing UCAPwNHeYVjDing c T BUySKtion gMPfJpwGw p'NvxAoping eu pBwMBKV'I DNxqelhu,PHPxDEq,mtion SN\n";
    private const string Prediction0 = "rFDJCRtion Ht-LM EKtDXkME,yz'RBr q'wer wrojNbN wL,b .a-'XdQggyFl jB-RPP'iyOIcUxi\n";
    private const string Prediction1 = "n cw-WeFyu vC MoBL Xdn g wkvcEiGvKtion BDFhrpMer pstion sbKao Q m qier LMmed HqqLFXe,XPY,J XsurkMeo ,ed nB'wH'bWVHjWFEer tQ.saefZwJtKrTlixYpMMNJtion UCAPwNHeYVjD\n";

    private static void Near(double expected, double actual, double tol = Tol) =>
        Assert.True(Math.Abs(expected - actual) <= tol, $"expected {expected}, got {actual}");

    private static void Near(RougeScore expected, RougeScore actual, double tol = Tol)
    {
        Near(expected.Precision, actual.Precision, tol);
        Near(expected.Recall, actual.Recall, tol);
        Near(expected.FMeasure, actual.FMeasure, tol);
    }

    [Fact]
    public void RougeScorerTestCasesGiveTheirExpectedScores()
    {
        // rouge_scorer_test.py testRouge1: score("testing one two", "testing") → P 1, R 1/3, F 1/2
        Near(new RougeScore(1, 1 / 3.0, 1 / 2.0), Rouge.Score("testing one two", "testing").Rouge1);
        // testRouge2: score("testing one two", "testing one") → P 1, R 1/2, F 2/3
        Near(new RougeScore(1, 1 / 2.0, 2 / 3.0), Rouge.Score("testing one two", "testing one").Rouge2);
        // testRougeLConsecutive and testMultipleRougeTypes: rougeL and rouge1 of ("testing one two", "testing one") → 1, 2/3, 4/5
        Near(new RougeScore(1, 2 / 3.0, 4 / 5.0), Rouge.Score("testing one two", "testing one").RougeL);
        Near(new RougeScore(1, 2 / 3.0, 4 / 5.0), Rouge.Score("testing one two", "testing one").Rouge1);
        // testRougeLNonConsecutive: ("testing one two", "testing two") → 1, 2/3, 4/5
        Near(new RougeScore(1, 2 / 3.0, 4 / 5.0), Rouge.Score("testing one two", "testing two").RougeL);
        // testRougeEmpty: ("testing one two", "") → all zero for rouge1, rouge2, rougeL
        var empty = Rouge.Score("testing one two", "");
        Assert.Equal(RougeScore.Zero, empty.Rouge1); Assert.Equal(RougeScore.Zero, empty.Rouge2); Assert.Equal(RougeScore.Zero, empty.RougeL);
        // testLcsTable: the LCS of [1 2 3 4 5] and [2 5 3 4] has length 3; none with [8 9]
        Assert.Equal(3, Rouge.LongestCommonSubsequence(["1", "2", "3", "4", "5"], ["2", "5", "3", "4"]));
        Assert.Equal(0, Rouge.LongestCommonSubsequence(["1", "2", "3", "4", "5"], ["8", "9"]));
    }

    [Fact]
    public void ScoresMatchRouge155OnRougeScoresOwnTestData()
    {
        // rouge_scorer_test.py testRouge1/Rouge2/RougeLAgainstRouge155 (no stemming), 5 decimal places
        var s0 = Rouge.Score(Target0, Prediction0);
        var s1 = Rouge.Score(Target1, Prediction1);
        Near(new RougeScore(0.68750, 0.40741, 0.51163), s0.Rouge1, 5e-6);
        Near(new RougeScore(0.65385, 0.40476, 0.50000), s1.Rouge1, 5e-6);
        Near(new RougeScore(0.53333, 0.30769, 0.39024), s0.Rouge2, 5e-6);
        Near(new RougeScore(0.48000, 0.29268, 0.36364), s1.Rouge2, 5e-6);
        Near(new RougeScore(0.68750, 0.40741, 0.51163), s0.RougeL, 5e-6);
        Near(new RougeScore(0.65385, 0.40476, 0.50000), s1.RougeL, 5e-6);
    }

    [Fact]
    public void HandComputedScoresCountClippedNGramsAndTheLcs()
    {
        // reference: the cat sat on the mat (6 tokens); prediction: the cat lay on the red mat (7 tokens)
        // unigrams: the×2 + cat + on + mat = 5 → P 5/7, R 5/6, F 10/13
        // bigrams: "the cat", "on the" = 2 of 6 predicted, 5 referenced → P 1/3, R 2/5, F 4/11
        // LCS: the cat on the mat = 5 → P 5/7, R 5/6, F 10/13
        var s = Rouge.Score("The cat sat on the mat.", "the cat lay on the RED mat");
        Near(new RougeScore(5 / 7.0, 5 / 6.0, 10 / 13.0), s.Rouge1);
        Near(new RougeScore(1 / 3.0, 2 / 5.0, 4 / 11.0), s.Rouge2);
        Near(new RougeScore(5 / 7.0, 5 / 6.0, 10 / 13.0), s.RougeL);
        // clipping: "the the the" against "the cat": one "the" matches → P 1/3, R 1/2
        Near(new RougeScore(1 / 3.0, 1 / 2.0, 0.4), Rouge.Score("the cat", "the the the").Rouge1);
        // order matters for ROUGE-L only: reversed tokens share every unigram but an LCS of 1
        var rev = Rouge.Score("a b c d", "d c b a");
        Near(1, rev.Rouge1.FMeasure); Near(0, rev.Rouge2.FMeasure); Near(0.25, rev.RougeL.FMeasure);
    }

    [Fact]
    public void TokenizerKeepsOnlyLowercaseAsciiLettersAndDigits()
    {
        Assert.Equal(["this", "is", "a", "test"], Rouge.Tokenize("This is a    test!"));
        Assert.Equal(["don", "t", "stop", "3", "14", "co2"], Rouge.Tokenize("Don't stop: 3.14 CO2"));
        // accented and non-Latin letters are separators for rouge-score's default tokenizer (no Unicode words)
        Assert.Equal(["caf", "d", "j", "vu"], Rouge.Tokenize("Café déjà-vu"));
        Assert.Empty(Rouge.Tokenize("Привет, 世界 — …"));
        Assert.Empty(Rouge.Tokenize(""));
        // Python's str.lower() turns İ into i + U+0307 (full case mapping), so rouge-score sees "i" and "stanbul"
        Assert.Equal(["i", "stanbul", "k"], Rouge.Tokenize("İSTANBUL \u212A"));
        // a prediction with no surviving token scores zero; identical texts score one
        Assert.Equal(RougeScore.Zero, Rouge.Score("w1 w2", "/").RougeL);
        var same = Rouge.Score("Grüße aus Köln, 2024!", "grüße AUS köln 2024");
        Assert.Equal(new RougeScore(1, 1, 1), same.Rouge1);
        Assert.Equal(new RougeScore(1, 1, 1), same.Rouge2);
        Assert.Equal(new RougeScore(1, 1, 1), same.RougeL);
    }

    [Fact]
    public void CorpusRougeIsTheMeanOfPerExampleScores()
    {
        string[] refs = ["testing one two", "the cat sat on the mat", "nothing here"];
        string[] preds = ["testing one", "the cat lay on the red mat", ""];
        var r = SummarizationMetrics.Compute(preds, refs);
        Assert.Equal(3, r.Count);
        Near((4 / 5.0 + 10 / 13.0 + 0) / 3, r.Rouge1);
        Near((2 / 3.0 + 4 / 11.0 + 0) / 3, r.Rouge2);
        Near((4 / 5.0 + 10 / 13.0 + 0) / 3, r.RougeL);
        Near((1 + 5 / 7.0 + 0) / 3, r.RougeDetail.Rouge1.Precision);
        Assert.Throws<ArgumentException>(() => SummarizationMetrics.Compute(["a"], ["a", "b"]));
    }
}
