using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using BitDistill.Distill.Comparison;
using BitDistill.Distill.Data;
using BitDistill.Distill.Demo;
using BitDistill.Distill.Recipes;
using BitDistill.Distill.Reports;
using BitDistill.Distill.Tasks;
using BitDistill.Models;

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
        ["bitdistill-gptq"] = KnownRecipes.BitDistillGptq,
        ["bitdistill-awq"] = KnownRecipes.BitDistillAwq,
    };

    /// <summary>`bitdistill compare --task … --train FILE --test FILE --base DIR [--methods LIST] [--seeds N] [--budget quick|default|paper] --report DIR`.</summary>
    public static Command Create()
    {
        var baseDir = new Option<string>("--base") { Description = "the pretrained base model every method starts from, with its tokenizer (default: the shipped base model, data/models/base)", DefaultValueFactory = _ => EmbeddedDemo.BaseModelDir(DemoCommand.EmbeddedDataDir) };
        var report = new Option<string>("--report") { Description = "folder for report.json, report.md, the plot and the run folders", DefaultValueFactory = _ => "compare-output" };
        var methods = new Option<string>("--methods") { Description = $"comma-separated methods: {string.Join(", ", Methods.Keys)}", DefaultValueFactory = _ => "fp-sft,bitnet-sft,bitdistill" };
        var seeds = new Option<int>("--seeds") { Description = "seeds per method (confidence intervals need at least 2)", DefaultValueFactory = _ => 1 };
        var budget = new Option<string>("--budget") { Description = "quick (minutes on 2 cores: 60 task steps, 20k stage-2 tokens), default (3 epochs, 200k tokens) or paper (3 epochs, 2M tokens); --steps overrides the task steps", DefaultValueFactory = _ => "default" };
        var corpus = new Option<string[]>("--corpus") { Description = "stage-2 text (default: the shipped sample of the base model's pretraining corpus, data/corpus/stage2.txt.gz)", AllowMultipleArgumentsPerToken = true };
        var gamma = new Option<string?>("--gamma") { Description = "γ of every method that distils attention relations (default: the paper's, 1e5 for classification, 1e3 for summarization); several values separated by commas run each such method once per value, as separate rows (METHOD-gammaV), for tuning on the validation metric" };
        var lrSweep = new Option<string?>("--lr-sweep") { Description = "learning rates every method is trained with, e.g. 3e-4,1e-3,3e-3; each method keeps the one with the best validation (default: --lr only)" };
        var lambda = new Option<double?>("--lambda") { Description = "override λ of every method that distils logits" };
        var relationHeads = new Option<int>("--relation-heads") { Description = "relation heads of the attention distillation (must divide the Q/K/V widths)", DefaultValueFactory = _ => 32 };
        var overwrite = new Option<bool>("--overwrite") { Description = "write into a non-empty --report folder that another verb wrote" };
        var task = new TaskArguments(); var training = new TrainingArguments();
        var cmd = new Command("compare", "Run FP-SFT, BitNet-SFT, BitDistill and its ablations on one task with the same budget and seeds; writes report.json, report.md and plots.");
        foreach (var o in new Option[] { baseDir, report, methods, seeds, budget, corpus, gamma, lambda, lrSweep, relationHeads, overwrite }) cmd.Options.Add(o);
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
            var files = p.GetValue(corpus) is { Length: > 0 } c ? c : [EmbeddedDemo.Stage2Corpus(DemoCommand.EmbeddedDataDir)];
            float[]? sweep = null;
            if (p.GetValue(lrSweep) is { } ls)
                try { sweep = ls.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(x => float.Parse(x, CultureInfo.InvariantCulture)).ToArray(); }
                catch (FormatException) { throw new UsageException($"--lr-sweep expects learning rates separated by commas, got '{ls}'"); }
            if (sweep is not null && (sweep.Length == 0 || sweep.Any(x => !(x > 0) || !float.IsFinite(x)))) throw new UsageException($"--lr-sweep needs positive learning rates, got '{p.GetValue(lrSweep)}'");
            foreach (var f in files) if (!File.Exists(f)) throw new UsageException($"--corpus {f}: file not found");
            double[]? gammaValues = p.GetValue(gamma) is { } gs ? ParseList(gs, "--gamma", allowZero: true) : null;
            if (p.GetValue(lambda) is { } lv && (!double.IsFinite(lv) || lv < 0)) throw new UsageException($"--lambda must be a non-negative number, got {lv}");
            var run = TaskRun.Prepare(p, task, training, p.GetValue(baseDir)!, null, p.GetValue(report)!, "compare", p.GetValue(overwrite), outputOption: "--report");
            using var claimed = run.Output;
            using var interrupt = new Interruption();
            var test = run.Test ?? throw new UsageException("compare needs test rows (--test FILE)");
            var baseModel = ModelRegistry.FromPretrained(run.ModelDir);
            var taskOptions = taskSteps is { } s && p.GetValue(training.Steps) is null ? run.Options with { Steps = s, WarmupSteps = Math.Max(1, s / 20) } : run.Options;
            var recipes = names.Select(n => Methods[n] with { Name = n }).ToArray();
            if (gammaValues is { } values)
            {
                recipes = recipes.SelectMany(r => r.AttentionDistillationWeight == 0 ? new[] { r }
                    : values.Length == 1 ? new[] { r with { AttentionDistillationWeight = values[0] } }
                    : values.Select(v => r with { Name = string.Create(CultureInfo.InvariantCulture, $"{r.Name}-gamma{v:G3}"), AttentionDistillationWeight = v }).ToArray()).ToArray();
            }
            var corpusData = recipes.Any(r => r.ContinuedPretraining) ? TokenDataset.FromFiles(files, run.Tokenizer, run.Encoder.EosId, run.Encoder.ParseSpecialTokens) : null;
            const int Stage2Seq = 128;
            int stage2Steps = (int)Math.Max(1, stage2Tokens / ((long)taskOptions.BatchSize * Stage2Seq));
            var result = MethodComparison.Run(baseModel, run.Train, run.Validation, test, run.Encoder, new ComparisonOptions
            {
                Methods = recipes, Seeds = seedCount, Task = taskOptions with { CheckpointDir = null }, Corpus = corpusData, LearningRates = sweep,
                Stage2 = taskOptions with { Steps = stage2Steps, SeqLen = Stage2Seq, WarmupSteps = Math.Max(1, stage2Steps / 20), EvalEvery = 0 },
                Lambda = p.GetValue(lambda), Stage2Cache = new Stage2Cache(), RelationHeads = p.GetValue(relationHeads), RunDir = claimed.Path,
                Log = Console.Out, Cancellation = interrupt.Token,
            });
            bool cls = run.Encoder.Kind == TaskKind.Classification;
            var json = new JsonObject
            {
                ["task"] = cls ? "classify" : "summarize", ["train_rows"] = run.Train.Rows.Count, ["validation_rows"] = run.Validation.Count, ["test_rows"] = test.Rows.Count,
                ["base_model"] = Path.GetFullPath(run.ModelDir), ["budget"] = p.GetValue(budget), ["task_steps"] = taskOptions.Steps, ["stage2_steps"] = stage2Steps,
                ["seeds"] = seedCount, ["seed"] = taskOptions.Seed, ["batch_size"] = taskOptions.BatchSize, ["learning_rate"] = JsonReports.Number(taskOptions.LearningRate),
                ["learning_rates"] = sweep is null ? null : new JsonArray(sweep.Select(x => JsonReports.Number(x)).ToArray()),
                ["code_version"] = JsonReports.CodeVersion,
            };
            if (cls) json["head"] = TaskSpec.HeadName(run.Encoder.Head);
            foreach (var (k, v) in result.ToJson().ToArray()) json[k] = v?.DeepClone();
            var md = new StringBuilder();
            md.AppendLine($"# {(cls ? "classification" : "summarization")}: {Path.GetFileName(run.Data.Layouts.FirstOrDefault() ?? "")}");
            md.AppendLine();
            md.AppendLine(string.Create(CultureInfo.InvariantCulture, $"base {run.ModelDir}; {run.Train.Rows.Count} training rows, {test.Rows.Count} test rows; {taskOptions.Steps} task steps, {stage2Steps} stage-2 steps; seeds {seedCount}"));
            md.AppendLine();
            md.Append(result.ToMarkdown());
            WriteAtomically(Path.Combine(claimed.Path, "report.json"), JsonReports.ToText(json));
            WriteAtomically(Path.Combine(claimed.Path, "report.md"), md.ToString());
            result.Plot(Path.Combine(claimed.Path, cls ? "accuracy.png" : "rougeL.png"), cls ? "Test accuracy by method (%)" : "Test ROUGE-L by method");
            Console.Write(md.ToString());
            Console.WriteLine($"wrote {Path.Combine(claimed.Path, "report.json")}, report.md and the plot");
            return 0;
        }));
        return cmd;
    }

    private static double[] ParseList(string text, string flag, bool allowZero)
    {
        double[] v;
        try { v = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(x => double.Parse(x, CultureInfo.InvariantCulture)).ToArray(); }
        catch (FormatException) { throw new UsageException($"{flag} expects numbers separated by commas, got '{text}'"); }
        if (v.Length == 0 || v.Any(x => !double.IsFinite(x) || x < 0 || (!allowZero && x == 0)))
            throw new UsageException($"{flag} needs {(allowZero ? "non-negative" : "positive")} finite numbers, got '{text}'");
        return v;
    }

    private static void WriteAtomically(string path, string text)
    {
        File.WriteAllText(path + ".tmp", text);
        File.Move(path + ".tmp", path, overwrite: true);
    }
}
