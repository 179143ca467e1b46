using System.Diagnostics;
using System.Globalization;
using BitDistill.Distill.Data;
using BitDistill.Distill.Evaluation;
using BitDistill.Distill.Objectives;
using BitDistill.Distill.Recipes;
using BitDistill.Models;
using BitDistill.Models.BitNet;
using BitDistill.Models.Classification;

namespace BitDistill.Distill.Comparison;

/// <summary>The paper's comparison on one task: every method starts from the same base model and is trained on the same
/// rows with the same budget, seeds and learning-rate sweep; FP-SFT is trained first in each seed because it is the teacher
/// of the distilling methods; each method keeps the learning rate with the best validation metric and is then evaluated
/// once on the test rows. Summarization uses the paper's summarization weights (λ = 1, γ = 1e3).</summary>
public static class MethodComparison
{
    /// <summary>Runs the comparison and returns every (method, seed) run.</summary>
    public static ComparisonResult Run(CausalLanguageModel baseModel, EncodedTask train, IReadOnlyList<EncodedExample> validation,
        EncodedTask test, TaskEncoder encoder, ComparisonOptions o)
    {
        if (o.Methods.Count == 0) throw new ArgumentException("no methods to compare");
        if (o.Seeds <= 0) throw new ArgumentException($"seeds must be positive, got {o.Seeds}");
        if (test.Rows.Count == 0) throw new ArgumentException("the comparison needs test rows");
        if (o.Methods.Any(m => m.ContinuedPretraining) && o.Corpus is null) throw new ArgumentException("a method continues pre-training (stage 2): give a corpus");
        var log = o.Log;
        var runs = new List<ComparisonRun>();
        var fp = o.Methods.FirstOrDefault(m => m.BitNet is null && !m.UsesTeacher);
        var order = o.Methods.OrderBy(m => ReferenceEquals(m, fp) ? 0 : 1).ToArray();
        for (int si = 0; si < o.Seeds; si++)
        {
            ulong seed = o.Task.Seed + (ulong)si;
            var run = new RecipeRunOptions
            {
                Task = o.Task with { Seed = seed, CheckpointDir = null }, Corpus = o.Corpus, Log = log, Cancellation = o.Cancellation,
                Stage2 = o.Stage2 with { Seed = seed, EvalEvery = 0, CheckpointDir = null }, Stage2Cache = o.Stage2Cache,
                EvalBatchSize = o.EvalBatchSize, MaxNewTokens = o.MaxNewTokens, FlipRateEvery = o.FlipRateEvery,
            };
            CausalLanguageModel? teacher = null;
            foreach (var method in order)
            {
                o.Cancellation.ThrowIfCancellationRequested();
                var recipe = Adjust(method, encoder.Kind, o);
                if (recipe.UsesTeacher && teacher is null)
                {
                    log?.WriteLine($"== seed {seed}: training the FP-SFT teacher for {recipe.Name}");
                    teacher = RecipeRunner.Run(KnownRecipes.FpSft, baseModel, null, train, validation, encoder, run with { CheckpointDir = Dir(o, seed, "teacher") }).Model;
                }
                var sw = Stopwatch.StartNew();
                var distillation = recipe.UsesTeacher ? DistillationOptions.From(recipe) with { RelationHeads = o.RelationHeads } : null;
                RecipeResult? best = null; float chosen = run.Task.LearningRate;
                foreach (var lr in o.LearningRates ?? [run.Task.LearningRate])
                {
                    var tag = o.LearningRates is null ? recipe.Name : string.Create(CultureInfo.InvariantCulture, $"{recipe.Name}-lr{lr:G3}");
                    var candidate = RecipeRunner.Run(recipe, baseModel, teacher, train, validation, encoder,
                        run with { Task = run.Task with { LearningRate = lr }, CheckpointDir = Dir(o, seed, tag), Distillation = distillation });
                    // ties keep the first rate
                    if (best is null || (candidate.Task.Best?.Result.IsBetterThan(best.Task.Best?.Result) ?? false)) { best = candidate; chosen = lr; }
                }
                double seconds = sw.Elapsed.TotalSeconds;
                if (ReferenceEquals(method, fp)) teacher = best!.Model;
                var eval = TaskEvaluator.Evaluate(best!.Model, encoder, test.Rows, o.EvalBatchSize, o.MaxNewTokens);
                double tps = o.DecodeTokens > 0 && best.Model is not ISequenceClassifier ? DecodeSpeed.Measure(best.Model, test.Rows[0].Prompt, o.DecodeTokens) : double.NaN;
                var (deployed, fp16) = WeightBytes(best.Model);
                var flips = best.FlipRates.Select(f => (f.Stage, (IReadOnlyList<(long, double)>)f.Samples.ToArray())).ToArray();
                var r = new ComparisonRun(method.Name, seed, chosen, eval, deployed, fp16, seconds, tps, best.Task.Best?.Result.Value ?? double.NaN, flips);
                runs.Add(r);
                log?.WriteLine(string.Create(CultureInfo.InvariantCulture, $"== {method.Name}, seed {seed}: test {Describe(eval)}; validation {r.Validation:F4} (lr {chosen:G3}, {seconds:F0} s)"));
            }
        }
        return new ComparisonResult(encoder.Kind, o.Methods.Select(m => m.Name).ToArray(), runs);
    }

    /// <summary>The recipe as it runs on a task of <paramref name="kind"/>: for summarization, the paper's summarization
    /// weights replace its classification defaults (weights set to other values are kept); then the γ/λ overrides.</summary>
    public static Recipe Adjust(Recipe method, TaskKind kind, ComparisonOptions o)
    {
        bool paperDefaults = method.LogitsDistillationWeight is 0 or 10 && method.AttentionDistillationWeight is 0 or 1e5;
        var r = kind == TaskKind.Summarization && paperDefaults ? KnownRecipes.ForSummarization(method) : method;
        if (o.Gamma is { } g && r.AttentionDistillationWeight > 0) r = r with { AttentionDistillationWeight = g };
        if (o.Lambda is { } l && r.LogitsDistillationWeight > 0) r = r with { LogitsDistillationWeight = l };
        return r with { Name = method.Name };
    }

    /// <summary>Bytes of the deployed weights (ternary projections packed at 2 bits with a 4-byte scale each, everything else
    /// at 16 bits) and of the same model at 16 bits throughout.</summary>
    public static (long Deployed, long Fp16) WeightBytes(CausalLanguageModel model)
    {
        var ternary = Refiner.BitLinears(model).ToArray();
        long ternaryWeights = ternary.Sum(b => (long)b.Layer.InFeatures * b.Layer.OutFeatures);
        long all = model.ParameterCount();
        return ((ternaryWeights + 3) / 4 + ternary.Length * 4L + (all - ternaryWeights) * 2, all * 2);
    }

    /// <summary>One line with the headline metrics of an evaluation.</summary>
    public static string Describe(TaskEvaluation e) => e.Classification is { } c
        ? string.Create(CultureInfo.InvariantCulture, $"accuracy {c.Accuracy * 100:F2}%, macro-F1 {c.MacroF1 * 100:F2}")
        : string.Create(CultureInfo.InvariantCulture, $"ROUGE-L {e.Summarization!.RougeL * 100:F2}, BLEU {e.Summarization.Bleu:F2}");

    private static string? Dir(ComparisonOptions o, ulong seed, string tag) => o.RunDir is null ? null : Path.Combine(o.RunDir, $"seed{seed}", tag);
}
