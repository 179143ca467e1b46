using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using BitDistill.Distill.Comparison;
using BitDistill.Distill.Data;
using BitDistill.Distill.Recipes;
using BitDistill.Distill.Reports;
using BitDistill.Distill.Training;
using BitDistill.Models;
using BitDistill.Models.Tokenization;

namespace BitDistill.Distill.Demo;

/// <summary>README's first command: the paper's comparison on the three shipped tasks (sentiment, the Debian sentence-pair
/// task, Debian summarization) from the pretrained base model that ships in data/models/base. FP-SFT, BitNet-SFT and
/// BitDistill (plus, with <see cref="DemoOptions.Paper"/>, the four ablations and BitDistill trained with the GPTQ- and
/// AWQ-style ternary quantisers, which run their own stage 2) are trained with the same budget and seeds;
/// stage 2 runs once per seed on the shipped corpus sample and is shared by the tasks. Writes report.json, report.md and one
/// PNG per task, and prints the table.</summary>
public static class EmbeddedDemo
{
    /// <summary>The longest encoded row (prompt + answer) the demo trains on.</summary>
    public const int MaxLength = 128;

    /// <summary>γ of the attention-relation term on classification tasks: 10 rather than the paper's 1e5. Chosen on the
    /// validation split of sentiment between 10 and 1e3 (3 seeds at two learning rates; data/models/README.md): at 1e3 the
    /// relation term is hundreds of times the cross-entropy and, with the gradient clipped to norm 1, drowns it.</summary>
    public static double? ClassificationGamma { get; } = 10;

    /// <summary>γ on summarization: the paper's 1e3 (null); 10 was not better on validation ROUGE-L (3 of 6 paired runs; 13.0 vs 13.4 at lr 1e-3).</summary>
    public static double? SummarizationGamma { get; } = null;

    /// <summary>The shipped base model's folder under <paramref name="dataDir"/>.</summary>
    public static string BaseModelDir(string dataDir) => Path.Combine(dataDir, "models", "base");

    /// <summary>The shipped stage-2 corpus sample under <paramref name="dataDir"/>.</summary>
    public static string Stage2Corpus(string dataDir) => Path.Combine(dataDir, "corpus", "stage2.txt.gz");

    /// <summary>Runs the demo.</summary>
    public static DemoResult Run(DemoOptions o)
    {
        var clock = Stopwatch.StartNew();
        var budget = o.Quick ? DemoBudget.Quick : DemoBudget.Default;
        int seeds = o.Seeds ?? (o.Quick ? 1 : 3);
        if (seeds <= 0) throw new ArgumentException($"seeds must be positive, got {seeds}");
        var tasks = o.Tasks ?? ShippedTasks.Names;
        foreach (var t in tasks) if (!ShippedTasks.Names.Contains(t)) throw new ArgumentException($"no shipped task '{t}' (there are: {string.Join(", ", ShippedTasks.Names)})");
        var baseDir = BaseModelDir(o.DataDir);
        var baseModel = ModelRegistry.FromPretrained(baseDir);
        var tok = TextTokenizer.Load(baseDir);
        int eos = tok.TokenToId("<|endoftext|>") ?? throw new InvalidDataException($"{baseDir}: the tokenizer has no <|endoftext|> token");
        var corpus = TokenDataset.FromFiles([Stage2Corpus(o.DataDir)], tok, eos);
        Directory.CreateDirectory(o.OutputDir);
        IReadOnlyList<Recipe> methods = o.Paper
            ? [KnownRecipes.FpSft, KnownRecipes.BitNetSft, KnownRecipes.BitDistill, KnownRecipes.NoSubLn, KnownRecipes.NoStage2, KnownRecipes.LogitsOnly, KnownRecipes.AttentionOnly,
                KnownRecipes.BitDistillGptq, KnownRecipes.BitDistillAwq]
            : [KnownRecipes.FpSft, KnownRecipes.BitNetSft, KnownRecipes.BitDistill];
        var inv = CultureInfo.InvariantCulture;
        o.Log.WriteLine(string.Create(inv, $"base model {baseDir}: {baseModel.ParameterCount():N0} parameters; stage-2 corpus {corpus.Count:N0} tokens; {seeds} seed(s); methods {string.Join(", ", methods.Select(m => m.Name))}"));
        var cache = new Stage2Cache();
        var results = new List<(string, ComparisonResult)>();
        var taskJson = new JsonArray();
        foreach (var name in tasks)
        {
            var data = TaskData.Load(ShippedTasks.Options(o.DataDir, name, o.Seed));
            var encoder = TaskEncoder.For(data, tok, MaxLength);
            var train = encoder.EncodeAll(data.Train);
            var validation = encoder.EncodeAll(data.Validation).Rows.Take(budget.ValidationRows).ToArray();
            var test = new EncodedTask(encoder.EncodeAll(data.Test).Rows.Take(encoder.Kind == TaskKind.Classification ? budget.TestRows : budget.SummaryTestRows).ToArray(), encoder.Kind, encoder.PadId);
            o.Log.WriteLine(string.Create(inv, $"=== task {name}: {train.Rows.Count} training, {validation.Length} validation, {test.Rows.Count} test rows"));
            var task = new TrainingOptions
            {
                Steps = budget.TaskSteps, BatchSize = budget.Batch, LearningRate = 1e-3f, WarmupSteps = Math.Max(1, budget.TaskSteps / 20), WeightDecay = 0.01f,
                EvalEvery = 0, Seed = o.Seed, LogEvery = Math.Max(1, budget.TaskSteps / 6), Log = o.Log,
            };
            var result = MethodComparison.Run(baseModel, train, validation, test, encoder, new ComparisonOptions
            {
                Methods = methods, Seeds = seeds, Task = task, Corpus = corpus, Stage2Cache = cache, DecodeTokens = budget.DecodeTokens,
                Stage2 = task with { Steps = budget.Stage2Steps, SeqLen = budget.Stage2SeqLen, LearningRate = 1e-3f, WarmupSteps = Math.Max(1, budget.Stage2Steps / 20) },
                RelationHeads = 32, Log = o.Log, Cancellation = o.Cancellation, FlipRateEvery = o.Quick ? 2 : 5,
                Gamma = encoder.Kind == TaskKind.Classification ? ClassificationGamma : SummarizationGamma,
            });
            results.Add((name, result));
            result.Plot(Path.Combine(o.OutputDir, name + ".png"), $"{name}: test {(result.HeadlineMetric == "accuracy" ? "accuracy (%)" : "ROUGE-L")} by method, {seeds} seed(s)");
            result.PlotFlipRates(Path.Combine(o.OutputDir, name + "-flip-rate.png"), $"{name}: ternary weights flipped per sample, seed {o.Seed}");
            var j = result.ToJson();
            j["task"] = name; j["kind"] = encoder.Kind == TaskKind.Classification ? "classify" : "summarize";
            j["train_rows"] = train.Rows.Count; j["validation_rows"] = validation.Length; j["test_rows"] = test.Rows.Count;
            taskJson.Add(j);
        }
        var md = Markdown(results, baseModel.ParameterCount(), seeds, budget, clock.Elapsed);
        var report = new JsonObject
        {
            ["base_model"] = baseDir, ["base_parameters"] = baseModel.ParameterCount(), ["seeds"] = seeds, ["quick"] = o.Quick, ["paper"] = o.Paper,
            ["task_steps"] = budget.TaskSteps, ["batch_size"] = budget.Batch, ["stage2_steps"] = budget.Stage2Steps, ["stage2_seq_len"] = budget.Stage2SeqLen,
            ["seed"] = o.Seed, ["code_version"] = JsonReports.CodeVersion, ["processor_count"] = Environment.ProcessorCount, ["seconds"] = Math.Round(clock.Elapsed.TotalSeconds, 1), ["tasks"] = taskJson,
        };
        Write(Path.Combine(o.OutputDir, "report.json"), JsonReports.ToText(report));
        Write(Path.Combine(o.OutputDir, "report.md"), md);
        o.Log.WriteLine();
        o.Log.Write(md);
        o.Log.WriteLine($"wrote {Path.Combine(o.OutputDir, "report.json")}, report.md and {string.Join(", ", tasks.Select(t => t + ".png"))}");
        return new DemoResult(results, clock.Elapsed);
    }

    private static string Markdown(List<(string Task, ComparisonResult Result)> results, long parameters, int seeds, DemoBudget budget, TimeSpan elapsed)
    {
        var sb = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        sb.AppendLine(string.Create(inv, $"Base model: {parameters / 1e6:F1} M parameters; {seeds} seed(s) per method; {budget.TaskSteps} task steps of {budget.Batch} rows; {budget.Stage2Steps} stage-2 steps; {Environment.ProcessorCount} cores; {elapsed.TotalMinutes:F1} min."));
        sb.AppendLine("Metrics in points (mean over seeds, Student-t 95% CI with 2+ seeds); weights: FP16 → deployed (ternary projections at 2 bits); decode: greedy tokens/s on this CPU, batch 1, on the training model (QAT for ternary).");
        foreach (var (task, r) in results)
        {
            sb.AppendLine();
            sb.AppendLine($"**{task}** ({r.Runs.FirstOrDefault()?.Evaluation.Classification?.Count ?? r.Runs.FirstOrDefault()?.Evaluation.Summarization?.Count} test rows)");
            sb.AppendLine();
            sb.Append(r.ToMarkdown());
        }
        return sb.ToString();
    }

    private static void Write(string path, string text)
    {
        File.WriteAllText(path + ".tmp", text);
        File.Move(path + ".tmp", path, overwrite: true);
    }
}
