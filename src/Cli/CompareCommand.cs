using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using BitDistill.Distill.Data;
using BitDistill.Distill.Evaluation;
using BitDistill.Distill.Recipes;
using BitDistill.Distill.Reports;
using BitDistill.Models;
using BitDistill.Models.BitNet;

namespace BitDistill.Cli;

/// <summary>The `compare` verb: the paper's comparison on one task — FP-SFT, BitNet-SFT, BitDistill and its ablations run on
/// the same data with the same step budget and seeds — written as report.json, report.md and a PNG.</summary>
public static class CompareCommand
{
    private static readonly Dictionary<string, Recipe> Methods = new()
    {
        ["fp-sft"] = KnownRecipes.FpSft,
        ["bitnet-sft"] = KnownRecipes.BitNetSft,
        ["bitdistill"] = KnownRecipes.BitDistill,
        ["bitdistill-no-subln"] = KnownRecipes.NoSubLn,
        ["bitdistill-no-stage2"] = KnownRecipes.NoStage2,
        ["bitdistill-ld-only"] = KnownRecipes.LogitsOnly,
        ["bitdistill-ad-only"] = KnownRecipes.AttentionOnly,
    };

    /// <summary>`bitdistill compare --task … --train FILE --test FILE --base DIR [--methods LIST] [--seeds N] [--budget quick|default|paper] --report DIR`.</summary>
    public static Command Create()
    {
        var baseDir = new Option<string>("--base") { Description = "the pretrained base model every method starts from (with its tokenizer)", Required = true };
        var report = new Option<string>("--report") { Description = "folder for report.json, report.md, the plot and the models", Required = true };
        var methods = new Option<string>("--methods") { Description = $"comma-separated methods: {string.Join(", ", Methods.Keys)}", DefaultValueFactory = _ => "fp-sft,bitnet-sft,bitdistill" };
        var seeds = new Option<int>("--seeds") { Description = "seeds per method (confidence intervals need at least 2)", DefaultValueFactory = _ => 1 };
        var budget = new Option<string>("--budget") { Description = "quick (minutes on 2 cores: 60 task steps, 20k stage-2 tokens), default (3 epochs, 200k tokens) or paper (3 epochs, 2M tokens); --steps overrides the task steps", DefaultValueFactory = _ => "default" };
        var corpus = new Option<string[]>("--corpus") { Description = "stage-2 text (default: the embedded Austen corpus)", AllowMultipleArgumentsPerToken = true };
        var gamma = new Option<double?>("--gamma") { Description = "override γ of every distilling method (the paper's 1e5 assumes its models' relation scale)" };
        var lrSweep = new Option<string?>("--lr-sweep") { Description = "learning rates every method is trained with, e.g. 3e-4,1e-3,3e-3; each method keeps the one with the best validation (default: --lr only)" };
        var relationHeads = new Option<int>("--relation-heads") { Description = "relation heads of the attention distillation (must divide the Q/K/V widths)", DefaultValueFactory = _ => 32 };
        var overwrite = new Option<bool>("--overwrite") { Description = "write into a non-empty --report folder that another verb wrote" };
        var task = new TaskArguments(); var training = new TrainingArguments();
        var cmd = new Command("compare", "Run FP-SFT, BitNet-SFT, BitDistill and its ablations on one task with the same budget and seeds; writes report.json, report.md and plots.");
        foreach (var o in new Option[] { baseDir, report, methods, seeds, budget, corpus, gamma, lrSweep, relationHeads, overwrite }) cmd.Options.Add(o);
        task.AddTo(cmd); training.AddTo(cmd);
        cmd.SetAction(p => ErrorPolicy.Run("compare", p, () =>
        {
            var names = p.GetValue(methods)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            foreach (var n in names) if (!Methods.ContainsKey(n)) throw new UsageException($"--methods: unknown method '{n}' (known: {string.Join(", ", Methods.Keys)})");
            if (names.Length == 0) throw new UsageException("--methods is empty");
            int seedCount = p.GetValue(seeds) > 0 ? p.GetValue(seeds) : throw new UsageException($"--seeds must be positive, got {p.GetValue(seeds)}");
            var (taskSteps, stage2Tokens) = p.GetValue(budget) switch
            {
                "quick" => ((int?)60, 20_000L),
                "default" => ((int?)null, 200_000L),
                "paper" => ((int?)null, 2_000_000L),
                var b => throw new UsageException($"--budget must be quick, default or paper, got '{b}'"),
            };
            var files = p.GetValue(corpus) is { Length: > 0 } c ? c : [Path.Combine(DemoCommand.EmbeddedDataDir, "corpus", "austen.train.txt.gz")];
            float[]? sweep = null;
            if (p.GetValue(lrSweep) is { } ls)
                try { sweep = ls.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(x => float.Parse(x, CultureInfo.InvariantCulture)).ToArray(); }
                catch (FormatException) { throw new UsageException($"--lr-sweep expects learning rates separated by commas, got '{ls}'"); }
            if (sweep is not null && (sweep.Length == 0 || sweep.Any(x => !(x > 0) || !float.IsFinite(x)))) throw new UsageException($"--lr-sweep needs positive learning rates, got '{p.GetValue(lrSweep)}'");
            foreach (var f in files) if (!File.Exists(f)) throw new UsageException($"--corpus {f}: file not found");
            var run = TaskRun.Prepare(p, task, training, p.GetValue(baseDir)!, null, p.GetValue(report)!, "compare", p.GetValue(overwrite));
            using var claimed = run.Output;
            using var interrupt = new Interruption();
            var baseModel = ModelRegistry.FromPretrained(run.ModelDir);
            var taskOptions = taskSteps is { } s && p.GetValue(training.Steps) is null ? run.Options with { Steps = s, WarmupSteps = Math.Max(1, s / 20) } : run.Options;
            var corpusData = names.Any(n => Methods[n].ContinuedPretraining) ? TokenDataset.FromFiles(files, run.Tokenizer, run.Encoder.EosId) : null;
            const int Stage2Seq = 128;
            int stage2Steps = (int)Math.Max(1, stage2Tokens / ((long)taskOptions.BatchSize * Stage2Seq));
            var results = new JsonArray();
            var rows = new List<(string Method, ulong Seed, TaskEvaluation Eval, long Bytes, double Seconds)>();
            for (int si = 0; si < seedCount; si++)
            {
                ulong seed = taskOptions.Seed + (ulong)si;
                var opts = new RecipeRunOptions
                {
                    Task = taskOptions with { Seed = seed, CheckpointDir = null }, Corpus = corpusData, Log = Console.Out, Cancellation = interrupt.Token,
                    Stage2 = taskOptions with { Seed = seed, Steps = stage2Steps, SeqLen = Stage2Seq, WarmupSteps = Math.Max(1, stage2Steps / 20), EvalEvery = 0, CheckpointDir = null },
                };
                // the FP-SFT model is a method of its own and the teacher of the distilling ones
                CausalLanguageModel? teacher = null;
                foreach (var name in names.OrderBy(n => n == "fp-sft" ? 0 : 1))
                {
                    var recipe = Methods[name] with { Name = name };
                    if (p.GetValue(gamma) is { } g && recipe.AttentionDistillationWeight > 0) recipe = recipe with { AttentionDistillationWeight = g };
                    if (recipe.UsesTeacher && teacher is null)
                    {
                        Console.WriteLine($"== seed {seed}: training the FP-SFT teacher for {name}");
                        teacher = RecipeRunner.Run(KnownRecipes.FpSft, baseModel, null, run.Train, run.Validation, run.Encoder, opts with { CheckpointDir = Path.Combine(claimed.Path, $"seed{seed}", "teacher") }).Model;
                    }
                    var sw = Stopwatch.StartNew();
                    var distillation = Distill.Objectives.DistillationOptions.From(recipe) with { RelationHeads = p.GetValue(relationHeads) };
                    // the same learning-rate sweep for every method; the best validation wins (ties: the first rate)
                    RecipeResult? result = null; float chosenLr = opts.Task.LearningRate;
                    foreach (var lr in sweep ?? [opts.Task.LearningRate])
                    {
                        var tag = sweep is null ? name : string.Create(CultureInfo.InvariantCulture, $"{name}-lr{lr:G3}");
                        var candidate = RecipeRunner.Run(recipe, baseModel, teacher, run.Train, run.Validation, run.Encoder,
                            opts with { Task = opts.Task with { LearningRate = lr }, CheckpointDir = Path.Combine(claimed.Path, $"seed{seed}", tag), Distillation = recipe.UsesTeacher ? distillation : null });
                        if (result is null || (candidate.Task.Best?.Result.IsBetterThan(result.Task.Best?.Result) ?? false)) { result = candidate; chosenLr = lr; }
                    }
                    double seconds = sw.Elapsed.TotalSeconds;
                    if (name == "fp-sft") teacher = result!.Model;
                    var eval = TaskEvaluator.Evaluate(result!.Model, run.Encoder, (run.Test ?? throw new UsageException("compare needs test rows (--test FILE, or a split of --train)")).Rows);
                    long bytes = DeployedBytes(result.Model);
                    rows.Add((name, seed, eval, bytes, seconds));
                    var o = new JsonObject { ["method"] = name, ["seed"] = seed, ["learning_rate"] = chosenLr, ["weights_bytes"] = bytes, ["train_seconds"] = Math.Round(seconds, 1) };
                    if (eval.Classification is { } cl) { o["accuracy"] = cl.Accuracy; o["macro_f1"] = cl.MacroF1; }
                    else { var su = eval.Summarization!; o["rouge1"] = su.Rouge1; o["rouge2"] = su.Rouge2; o["rougeL"] = su.RougeL; o["bleu"] = su.Bleu; }
                    results.Add(o);
                    Console.WriteLine($"== {name}, seed {seed}: {Headline(eval)}");
                }
            }
            bool cls = run.Encoder.Kind == TaskKind.Classification;
            var summary = new JsonArray();
            var md = new StringBuilder();
            md.AppendLine($"# {(cls ? "classification" : "summarization")}: {Path.GetFileName(run.Data.Layouts.FirstOrDefault() ?? "")}");
            md.AppendLine();
            md.AppendLine(string.Create(CultureInfo.InvariantCulture, $"base {run.ModelDir}; {run.Train.Rows.Count} training rows, {run.Test!.Rows.Count} test rows; {taskOptions.Steps} task steps, {stage2Steps} stage-2 steps; seeds {seedCount}"));
            md.AppendLine();
            md.AppendLine(cls ? "| method | accuracy (mean) | 95% CI | macro-F1 | weights (bytes, deployed) |" : "| method | ROUGE-1 | ROUGE-2 | ROUGE-L | BLEU | weights (bytes, deployed) |");
            md.AppendLine(cls ? "|---|---:|---|---:|---:|" : "|---|---:|---:|---:|---:|---:|");
            var bars = new List<(string, double)>();
            foreach (var name in names)
            {
                var mine = rows.Where(r => r.Method == name).ToArray();
                var o = new JsonObject { ["method"] = name };
                long bytes = mine[0].Bytes;
                if (cls)
                {
                    var (m, lo, hi) = MethodStatistics.MeanCi95(mine.Select(r => r.Eval.Classification!.Accuracy).ToArray());
                    double f1 = mine.Average(r => r.Eval.Classification!.MacroF1);
                    o["accuracy_mean"] = m; o["accuracy_ci95"] = new JsonArray(lo, hi); o["macro_f1_mean"] = f1;
                    md.AppendLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {m * 100:F2} | [{lo * 100:F2}, {hi * 100:F2}] | {f1 * 100:F2} | {bytes:N0} |"));
                    bars.Add((name, m * 100));
                }
                else
                {
                    foreach (var (key, get) in new (string, Func<SummarizationReport, double>)[] { ("rouge1", s => s.Rouge1), ("rouge2", s => s.Rouge2), ("rougeL", s => s.RougeL), ("bleu", s => s.Bleu) })
                    {
                        var (m, lo, hi) = MethodStatistics.MeanCi95(mine.Select(r => get(r.Eval.Summarization!)).ToArray());
                        o[key + "_mean"] = m; o[key + "_ci95"] = new JsonArray(lo, hi);
                    }
                    md.AppendLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {(double)o["rouge1_mean"]! * 100:F2} | {(double)o["rouge2_mean"]! * 100:F2} | {(double)o["rougeL_mean"]! * 100:F2} | {(double)o["bleu_mean"]!:F2} | {bytes:N0} |"));
                    bars.Add((name, (double)o["rougeL_mean"]! * 100));
                }
                summary.Add(o);
            }
            var json = new JsonObject
            {
                ["task"] = cls ? "classify" : "summarize", ["train_rows"] = run.Train.Rows.Count, ["test_rows"] = run.Test.Rows.Count,
                ["base_model"] = Path.GetFullPath(run.ModelDir), ["budget"] = p.GetValue(budget), ["task_steps"] = taskOptions.Steps, ["stage2_steps"] = stage2Steps,
                ["results"] = results, ["summary"] = summary,
            };
            File.WriteAllText(Path.Combine(claimed.Path, "report.json"), json.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }) + "\n");
            File.WriteAllText(Path.Combine(claimed.Path, "report.md"), md.ToString());
            Plots.Bars(Path.Combine(claimed.Path, cls ? "accuracy.png" : "rougeL.png"), cls ? "Test accuracy by method (%)" : "Test ROUGE-L by method", cls ? "accuracy %" : "ROUGE-L", bars);
            Console.Write(md.ToString());
            Console.WriteLine($"wrote {Path.Combine(claimed.Path, "report.json")}, report.md and the plot");
            return 0;
        }));
        return cmd;
    }

    private static string Headline(TaskEvaluation e) => e.Classification is { } c
        ? string.Create(CultureInfo.InvariantCulture, $"accuracy {c.Accuracy * 100:F2}%, macro-F1 {c.MacroF1 * 100:F2}")
        : string.Create(CultureInfo.InvariantCulture, $"ROUGE-L {e.Summarization!.RougeL * 100:F2}, BLEU {e.Summarization.Bleu:F2}");

    // Bytes of the deployed weights: ternary projections packed at 2 bits, everything else (embeddings, norms, FP models) at 16 bits.
    private static long DeployedBytes(CausalLanguageModel model)
    {
        long ternary = Refiner.BitLinears(model).Sum(b => (long)b.Layer.InFeatures * b.Layer.OutFeatures);
        return ternary / 4 + (model.ParameterCount() - ternary) * 2;
    }
}
