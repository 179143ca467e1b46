using BitDistill.Distill.Comparison;
using BitDistill.Distill.Data;
using BitDistill.Distill.Evaluation;
using BitDistill.Distill.Recipes;
using BitDistill.Distill.Training;

namespace BitDistill.Tests.Distill;

/// <summary>The comparison's recipe adjustments (the paper's summarization weights replace only its classification defaults;
/// γ and λ overrides) and its summaries (means and Student-t intervals over seeds, the report's fields).</summary>
public sealed class MethodComparisonTests
{
    private static ComparisonOptions Options(double? gamma = null, double? lambda = null) =>
        new() { Methods = KnownRecipes.All, Task = new TrainingOptions(), Gamma = gamma, Lambda = lambda };

    [Fact]
    public void SummarizationUsesThePaperWeightsUnlessTheRecipeSetsItsOwn()
    {
        var s = MethodComparison.Adjust(KnownRecipes.BitDistill, TaskKind.Summarization, Options());
        Assert.Equal((1.0, 1e3, "bitdistill"), (s.LogitsDistillationWeight, s.AttentionDistillationWeight, s.Name));
        var c = MethodComparison.Adjust(KnownRecipes.BitDistill, TaskKind.Classification, Options());
        Assert.Equal((10.0, 1e5), (c.LogitsDistillationWeight, c.AttentionDistillationWeight));
        var custom = KnownRecipes.BitDistill with { AttentionDistillationWeight = 30 };
        Assert.Equal(30, MethodComparison.Adjust(custom, TaskKind.Summarization, Options()).AttentionDistillationWeight);
        var o = MethodComparison.Adjust(KnownRecipes.BitDistill, TaskKind.Summarization, Options(gamma: 7, lambda: 2));
        Assert.Equal((2.0, 7.0), (o.LogitsDistillationWeight, o.AttentionDistillationWeight));
        // an override never switches on a term the method does not use
        var ld = MethodComparison.Adjust(KnownRecipes.LogitsOnly, TaskKind.Classification, Options(gamma: 7));
        Assert.Equal(0, ld.AttentionDistillationWeight);
        Assert.Equal(0, MethodComparison.Adjust(KnownRecipes.BitNetSft, TaskKind.Classification, Options(gamma: 7, lambda: 2)).LogitsDistillationWeight);
    }

    private static ComparisonRun Run(string method, ulong seed, double accuracy) => new(method, seed, 1e-3f,
        new TaskEvaluation(new ClassificationReport
        {
            Count = 10, Accuracy = accuracy, MacroF1 = accuracy / 2, MacroPrecision = 0, MacroRecall = 0, Labels = ["a", "b"], PerClass = [], ConfusionMatrix = [],
        }, null, [], []), 1000, 4000, 12.5, 100, accuracy - 0.01);

    [Fact]
    public void SummariesAreMeansWithStudentTIntervalsOverSeeds()
    {
        var r = new ComparisonResult(TaskKind.Classification, ["fp-sft", "bitdistill"],
            [Run("fp-sft", 1, 0.8), Run("fp-sft", 2, 0.9), Run("fp-sft", 3, 0.7), Run("bitdistill", 1, 0.6)]);
        var s = r.Summary("fp-sft", "accuracy");
        Assert.Equal(0.8, s.Mean, 12);
        // t(0.975, 2) = 4.302653; sd = 0.1; half-width = 4.302653 * 0.1 / sqrt(3)
        Assert.Equal(0.8 + 4.302653 * 0.1 / Math.Sqrt(3), s.Hi, 5);
        Assert.Equal(0.6, r.Summary("bitdistill", "accuracy").Lo, 12);
        var json = r.ToJson();
        Assert.Equal(4, json["results"]!.AsArray().Count);
        var first = json["summary"]![0]!;
        Assert.Equal(0.4, first["macro_f1_mean"]!.GetValue<double>(), 12);
        Assert.Equal(3, first["seeds"]!.GetValue<int>());
        Assert.Equal(0.79, json["results"]![0]!["validation_accuracy"]!.GetValue<double>(), 12);
        var md = r.ToMarkdown();
        Assert.Contains("| fp-sft | 80.0 [55.2, 104.8] |", md);
        Assert.Contains("| bitdistill | 60.0 |", md);
        Assert.Throws<ArgumentException>(() => r.Summary("no-such-method", "accuracy"));
    }
}
