using BitDistill.Distill.Evaluation;

namespace BitDistill.Tests.Distill;

/// <summary>Accuracy, per-label and macro precision/recall/F1 and the confusion matrix, against scikit-learn's documented
/// examples and hand-computed values, with a stable label order.</summary>
public class ClassificationMetricsTests
{
    private static void Near(double expected, double actual) => Assert.True(Math.Abs(expected - actual) < 1e-12, $"expected {expected}, got {actual}");

    [Fact]
    public void ScikitLearnDocumentedExamplesAreReproduced()
    {
        // sklearn.metrics.f1_score docstring: y_true [0,1,2,0,1,2], y_pred [0,2,1,0,0,1] → per class [0.8, 0, 0], macro 0.26…;
        // precision_score macro 0.22…, recall_score macro 0.33…
        var r = ClassificationMetrics.Compute(["0", "2", "1", "0", "0", "1"], ["0", "1", "2", "0", "1", "2"]);
        Assert.Equal(["0", "1", "2"], r.Labels);
        Assert.Equal([0.8, 0, 0], r.PerClass.Select(c => Math.Round(c.F1, 12)));
        Near(0.8 / 3, r.MacroF1);
        Near(2 / 9.0, r.MacroPrecision);
        Near(1 / 3.0, r.MacroRecall);
        Near(2 / 6.0, r.Accuracy);
        // sklearn.metrics.confusion_matrix docstring: strings with labels=["ant", "bird", "cat"] → [[2,0,0],[0,0,1],[1,0,2]]
        var cm = ClassificationMetrics.Compute(["ant", "ant", "cat", "cat", "ant", "cat"], ["cat", "ant", "cat", "cat", "ant", "bird"], ["ant", "bird", "cat"]);
        Assert.Equal([[2, 0, 0], [0, 0, 1], [1, 0, 2]], cm.ConfusionMatrix.Select(row => row.ToArray()).ToArray());
        Assert.Equal([2, 1, 3], cm.PerClass.Select(c => c.Support));
        Assert.Equal([3, 0, 3], cm.PerClass.Select(c => c.Predicted));
    }

    [Fact]
    public void HandComputedBinaryMetrics()
    {
        // truth: pos pos pos neg neg; predicted: pos neg pos pos neg → pos: tp 2, fp 1, fn 1 → P R F 2/3;
        // neg: tp 1, fp 1, fn 1 → P R F 1/2; accuracy 3/5; macro F1 (2/3 + 1/2)/2
        var r = new ClassificationEvaluator(["neg", "pos"]).Evaluate(["pos", "neg", "pos", "pos", "neg"], ["pos", "pos", "pos", "neg", "neg"]);
        Assert.Equal(["neg", "pos"], r.Labels);
        Near(3 / 5.0, r.Accuracy);
        Near(1 / 2.0, r.PerClass[0].F1); Near(2 / 3.0, r.PerClass[1].Precision); Near(2 / 3.0, r.PerClass[1].Recall);
        Near((2 / 3.0 + 1 / 2.0) / 2, r.MacroF1);
        Assert.Equal([[1, 1], [1, 2]], r.ConfusionMatrix.Select(row => row.ToArray()).ToArray());
    }

    [Fact]
    public void LabelOrderIsStableAndUnknownPredictionsGetTheirOwnColumn()
    {
        // the given order first, then unseen labels in ordinal order, whatever order the rows come in
        var a = ClassificationMetrics.Compute(["pos", "maybe", "neg", "???"], ["pos", "neg", "neg", "pos"], ["pos", "neg"]);
        var b = ClassificationMetrics.Compute(["???", "neg", "maybe", "pos"], ["pos", "neg", "neg", "pos"], ["pos", "neg"]);
        Assert.Equal(["pos", "neg", "???", "maybe"], a.Labels);
        Assert.Equal(a.Labels, b.Labels);
        // "maybe" and "???" are never right: F1 0 each, and they count in the macro average (as scikit-learn's label union)
        Near(0.5, a.Accuracy);
        Near((2 / 3.0 + 2 / 3.0 + 0 + 0) / 4, a.MacroF1);
        Assert.Equal([[1, 0, 1, 0], [0, 1, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0]], a.ConfusionMatrix.Select(row => row.ToArray()).ToArray());
        // a given label nobody uses still appears, with zeros
        var c = ClassificationMetrics.Compute(["x"], ["x"], ["x", "y"]);
        Assert.Equal(["x", "y"], c.Labels);
        Near(0.5, c.MacroF1);
        // white space around predictions is ignored by the evaluator unless asked otherwise; labels are case-sensitive
        Near(1, new ClassificationEvaluator().Evaluate([" positive\n"], ["positive"]).Accuracy);
        Near(0, new ClassificationEvaluator(trim: false).Evaluate([" positive\n"], ["positive"]).Accuracy);
        Near(0, new ClassificationEvaluator().Evaluate(["Positive"], ["positive"]).Accuracy);
        // no rows: zeros, no labels
        var e = ClassificationMetrics.Compute([], []);
        Assert.Equal(0, e.Count); Assert.Empty(e.Labels); Near(0, e.MacroF1);
        Assert.Throws<ArgumentException>(() => ClassificationMetrics.Compute(["a"], []));
    }

    [Fact]
    public void ReportRoundTripsThroughJsonWithSnakeCaseNames()
    {
        var cls = new ClassificationEvaluator(["négatif", "positif"]).Evaluate(["positif", "négatif"], ["positif", "positif"]);
        var sum = new SummarizationEvaluator().Evaluate(["the cat sat"], ["the cat sat on the mat"]);
        var report = new EvaluationReport { Task = "classify", Model = "m", TestRows = 2, Classification = cls };
        var json = report.ToJson();
        Assert.Contains("\"macro_f1\"", json);
        Assert.Contains("\"confusion_matrix\"", json);
        Assert.Contains("négatif", json);          // written as is, not \u escaped
        Assert.DoesNotContain("summarization", json); // nulls left out
        var back = EvaluationReport.FromJson(json);
        Assert.Equal(cls.Labels, back.Classification!.Labels);
        Assert.Equal(cls.MacroF1, back.Classification.MacroF1);
        Assert.Equal(cls.ConfusionMatrix.Select(r => r.ToArray()), back.Classification.ConfusionMatrix.Select(r => r.ToArray()));
        var dir = Directory.CreateTempSubdirectory("bitdistill-eval-");
        try
        {
            var path = Path.Combine(dir.FullName, "sub", "report.json");
            (report with { Task = "summarize", Classification = null, Summarization = sum }).Save(path);
            var s = EvaluationReport.FromJson(File.ReadAllText(path)).Summarization!;
            Assert.Equal(sum.Rouge1, s.Rouge1); Assert.Equal(sum.Bleu, s.Bleu); Assert.Equal(sum.BleuDetail.Precisions, s.BleuDetail.Precisions);
            Assert.Contains("\"rougeL\"", File.ReadAllText(path));
            Assert.Single(Directory.GetFiles(Path.GetDirectoryName(path)!));   // no temporary file left behind
        }
        finally { dir.Delete(true); }
    }
}
