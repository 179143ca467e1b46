using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using BitDistill.Autograd;
using BitDistill.Distill.Data;
using BitDistill.Distill.Evaluation;
using BitDistill.Distill.Recipes;
using BitDistill.Distill.Reports;
using BitDistill.Distill.Tasks;
using BitDistill.Distill.Training;
using BitDistill.Models.Tokenization;

namespace BitDistill.Cli;

/// <summary>What the task verbs share once their flags are read: the claimed output folder, the tokenizer, the task data
/// encoded, the training options, and writing the result (model, tokenizer, task.json, recipe.json, run.json, evaluation,
/// plots).</summary>
public sealed class TaskRun
{
    private TaskRun(OutputFolder output, string modelDir, string tokenizerPath, TextTokenizer tokenizer, TaskData data, TaskEncoder encoder,
        EncodedTask train, IReadOnlyList<EncodedExample> validation, EncodedTask? test, TrainingOptions options, int maxLength, string? labelWords)
    {
        Output = output; ModelDir = modelDir; TokenizerPath = tokenizerPath; Tokenizer = tokenizer; Data = data; Encoder = encoder;
        Train = train; Validation = validation; Test = test; Options = options; MaxLength = maxLength; LabelWords = labelWords;
    }

    /// <summary>The claimed output folder.</summary>
    public OutputFolder Output { get; }
    /// <summary>The model folder read.</summary>
    public string ModelDir { get; }
    /// <summary>Where the tokenizer came from.</summary>
    public string TokenizerPath { get; }
    /// <summary>The tokenizer.</summary>
    public TextTokenizer Tokenizer { get; }
    /// <summary>The task's rows.</summary>
    public TaskData Data { get; }
    /// <summary>The encoder.</summary>
    public TaskEncoder Encoder { get; }
    /// <summary>Encoded training rows.</summary>
    public EncodedTask Train { get; }
    /// <summary>Encoded validation rows (capped by --eval-rows).</summary>
    public IReadOnlyList<EncodedExample> Validation { get; }
    /// <summary>Encoded test rows, if any.</summary>
    public EncodedTask? Test { get; }
    /// <summary>Task-stage training options.</summary>
    public TrainingOptions Options { get; }
    /// <summary>--max-length.</summary>
    public int MaxLength { get; }
    /// <summary>--label-words.</summary>
    public string? LabelWords { get; }

    /// <summary>Validates the flags and paths, claims the output folder (named <paramref name="outputOption"/> in messages), loads the tokenizer and the task data, encodes it.</summary>
    public static TaskRun Prepare(ParseResult p, TaskArguments task, TrainingArguments training, string modelDir, string? tokenizer,
        string output, string verb, bool overwrite, TaskSpec? spec = null, string outputOption = "--output")
    {
        if (!Directory.Exists(modelDir)) throw new UsageException($"model folder '{modelDir}' does not exist");
        ulong seed = p.GetValue(training.Seed);
        var dataOptions = task.Options(p, seed, spec?.Kind);
        var head = spec?.Head ?? task.HeadOf(p, dataOptions.Kind) ?? ClassificationHead.LabelWords;
        if (head == ClassificationHead.Score && spec is null && p.GetValue(task.LabelWords) is not null)
            throw new UsageException("--label-words applies to --head label-words; a score head answers the labels themselves");
        var tokPath = tokenizer ?? modelDir;
        var tok = TextTokenizer.Load(tokPath);
        var config = BitDistill.Models.ModelRegistry.LoadConfig(Path.Combine(modelDir, "config.json"));
        TokenizerPairing.Check(tok, config);
        int maxLength = spec?.MaxLength ?? p.GetValue(task.MaxLength);
        if (maxLength > config.MaxPositionEmbeddings)
        {
            // the default shrinks to a short model's context; a length the user (or task.json) asked for is refused
            if (spec is null && p.GetResult(task.MaxLength) is null or { Implicit: true }) maxLength = config.MaxPositionEmbeddings;
            else throw new UsageException($"{(spec is null ? "--max-length" : "task.json's max_length")} {maxLength} is longer than {modelDir}'s max_position_embeddings ({config.MaxPositionEmbeddings})");
        }
        training.Check(p);
        var claimed = OutputFolder.Claim(verb, outputOption, output, overwrite, modelDir, dataOptions.Train, dataOptions.Validation, dataOptions.Test, tokenizer);
        try
        {
            var data = TaskData.Load(dataOptions);
            Console.WriteLine(data.Summary());
            string? words = spec?.LabelWords ?? p.GetValue(task.LabelWords);
            bool parseSpecial = p.GetValue(task.ParseSpecial) || spec?.ParseSpecialTokens == true;
            var encoder = spec is not null ? (spec with { ParseSpecialTokens = parseSpecial }).Encoder(tok) : TaskEncoder.For(data, tok, maxLength, words, head: head, parseSpecialTokens: parseSpecial);
            var train = encoder.EncodeAll(data.Train);
            var validation = encoder.EncodeAll(data.Validation).Rows.Take(training.Rows(p)).ToArray();
            var test = data.Test.Count > 0 ? encoder.EncodeAll(data.Test) : null;
            if (train.TruncatedCount > 0) Console.WriteLine($"note: {train.TruncatedCount} of {train.Rows.Count} training rows were truncated to {maxLength} tokens");
            var options = training.Options(p, train.Rows.Count) with { Log = Console.Out };
            return new TaskRun(claimed, modelDir, tokPath, tok, data, encoder, train, validation, test, options, maxLength, words);
        }
        catch { claimed.Dispose(); throw; }
    }

    /// <summary>Recipe-run options with this run's task training and checkpoint folder.</summary>
    public RecipeRunOptions RunOptions(CancellationToken cancellation) => new()
    {
        Task = Options, CheckpointDir = Path.Combine(Output.Path, "run"), Log = Console.Out, Cancellation = cancellation,
    };

    /// <summary>Writes the model and everything that describes it; evaluates on the test rows when there are any.</summary>
    public void Save(RecipeResult result, Recipe recipe, string baseModel, string? teacher = null)
    {
        if (!DataParallel.IsRoot) return; // rank 0 writes the result and evaluates it
        var dir = Output.Path;
        result.Model.SavePretrained(dir);
        ModelFolders.CopyTokenizer(TokenizerPath, dir);
        bool score = Encoder.Head == ClassificationHead.Score;
        new TaskSpec(Encoder.Kind, Data.Labels, score ? null : Encoder.LabelWords?.ToString(), MaxLength, Encoder.Template, Encoder.Head, Encoder.ParseSpecialTokens).Save(dir);
        RecipeFile.Save(recipe, Path.Combine(dir, RecipeFile.FileName));
        var inv = CultureInfo.InvariantCulture;
        var runJson = new JsonObject
        {
            ["base_model"] = Path.GetFullPath(baseModel),
            ["teacher"] = teacher is null ? null : Path.GetFullPath(teacher),
            ["recipe"] = recipe.Name,
            ["train_rows"] = Train.Rows.Count,
            ["steps"] = Options.Steps,
            ["batch_size"] = Options.BatchSize,
            ["learning_rate"] = JsonReports.Number(Options.LearningRate),
            ["warmup_steps"] = Options.WarmupSteps,
            ["weight_decay"] = JsonReports.Number(Options.WeightDecay),
            ["seed"] = Options.Seed,
            ["max_length"] = MaxLength,
            ["parse_special"] = Encoder.ParseSpecialTokens,
            ["code_version"] = JsonReports.CodeVersion,
            ["best_validation"] = result.Task.Best is { } b ? new JsonObject { ["step"] = b.Step, ["metric"] = b.Result.Metric, ["value"] = b.Result.Value } : null,
        };
        File.WriteAllText(Path.Combine(dir, "run.json"), JsonReports.ToText(runJson));
        Plots.TrainingCurves(Path.Combine(dir, "loss.png"), $"Training loss ({recipe.Name})", "step", "loss",
            [("loss", result.Task.Loss.Select(l => (double)l.Step).ToArray(), result.Task.Loss.Select(l => l.Loss).ToArray())]);
        if (result.Task.Validations.Count > 0)
            Plots.Lines(Path.Combine(dir, "validation.png"), $"Validation {result.Task.Validations[0].Result.Metric} ({recipe.Name})", "step", result.Task.Validations[0].Result.Metric,
                [(result.Task.Validations[0].Result.Metric, result.Task.Validations.Select(v => (double)v.Step).ToArray(), result.Task.Validations.Select(v => v.Result.Value).ToArray())]);
        if (result.FlipRates.Any(f => f.Samples.Count > 0))
            Plots.Lines(Path.Combine(dir, "flip-rate.png"), "Ternary weights flipped per sample", "step", "share flipped",
                result.FlipRates.Where(f => f.Samples.Count > 0).Select(f => (f.Stage, (IReadOnlyList<double>)f.Samples.Select(s => (double)s.Step).ToArray(),
                    (IReadOnlyList<double>)f.Samples.Select(s => s.FlipRate).ToArray())).ToArray());
        if (Test is not null)
        {
            var sw = System.Diagnostics.Stopwatch.StartNew();
            var e = TaskEvaluator.Evaluate(result.Model, Encoder, Test.Rows);
            var report = new EvaluationReport
            {
                Task = Encoder.Kind == TaskKind.Classification ? "classify" : "summarize", Model = dir, TestRows = Test.Rows.Count,
                Seconds = sw.Elapsed.TotalSeconds, Classification = e.Classification, Summarization = e.Summarization,
            };
            report.Save(Path.Combine(dir, "eval.json"));
            Console.WriteLine(Describe(report));
        }
        Console.WriteLine($"wrote {dir}");
    }

    /// <summary>One line of the headline metrics.</summary>
    public static string Describe(EvaluationReport r) => r.Classification is { } c
        ? string.Create(CultureInfo.InvariantCulture, $"test: accuracy {c.Accuracy * 100:F2}%, macro-F1 {c.MacroF1 * 100:F2} on {c.Count} rows")
        : string.Create(CultureInfo.InvariantCulture, $"test: ROUGE-1 {r.Summarization!.Rouge1 * 100:F2}, ROUGE-2 {r.Summarization.Rouge2 * 100:F2}, ROUGE-L {r.Summarization.RougeL * 100:F2}, BLEU {r.Summarization.Bleu:F2} on {r.Summarization.Count} rows");
}
