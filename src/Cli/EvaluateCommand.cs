using System.CommandLine;
using BitDistill.Distill.Data;
using BitDistill.Distill.Evaluation;
using BitDistill.Models;
using BitDistill.Models.Tokenization;

namespace BitDistill.Cli;

/// <summary>The `evaluate` verb: accuracy, macro-F1 and the confusion matrix of a classifier, or ROUGE-1/2/L and BLEU of
/// generated summaries, on a test file, asking the model exactly as it was fine-tuned (its task.json).</summary>
public static class EvaluateCommand
{
    /// <summary>`bitdistill evaluate --model DIR --test FILE [field flags] [--json]`.</summary>
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "a model fine-tuned by finetune or distill (with task.json and its tokenizer)", Required = true };
        var json = new Option<bool>("--json") { Description = "print the report as JSON (snake_case) instead of a summary" };
        var batch = new Option<int>("--batch") { Description = "rows per forward (prompts are left-padded)", DefaultValueFactory = _ => 16 };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "longest generated summary", DefaultValueFactory = _ => 64 };
        var task = new TaskArguments();
        var cmd = new Command("evaluate", "Evaluate a fine-tuned model on test rows: accuracy / macro-F1 / confusion matrix, or ROUGE-1/2/L and BLEU of greedy summaries.");
        foreach (var o in new Option[] { model, json, batch, maxNew }) cmd.Options.Add(o);
        foreach (var o in new Option[] { task.Test, task.TextField, task.TextPairField, task.LabelField, task.DocumentField, task.SummaryField, task.SkipBadRows, task.Head }) cmd.Options.Add(o);
        cmd.SetAction(p => ErrorPolicy.Run("evaluate", p, () =>
        {
            string dir = p.GetValue(model)!;
            if (!Directory.Exists(dir)) throw new UsageException($"model folder '{dir}' does not exist");
            var testFile = p.GetValue(task.Test) ?? throw new UsageException("--test FILE is required");
            if (!File.Exists(testFile)) throw new UsageException($"--test {testFile}: file not found");
            if (p.GetValue(batch) <= 0 || p.GetValue(maxNew) <= 0) throw new UsageException("--batch and --max-new-tokens must be positive");
            var spec = task.SpecOf(p, dir);
            var tokenizer = TextTokenizer.Load(dir);
            TokenizerPairing.Check(tokenizer, ModelRegistry.LoadConfig(Path.Combine(dir, "config.json")));
            var encoder = spec.Encoder(tokenizer);
            var rows = TaskData.Load(new TaskDataOptions
            {
                Kind = spec.Kind, Train = testFile, ValidationFraction = 0, TestFraction = 0, SkipBadRows = p.GetValue(task.SkipBadRows),
                Fields = new TaskFields(p.GetValue(task.TextField), p.GetValue(task.TextPairField), p.GetValue(task.LabelField), p.GetValue(task.DocumentField), p.GetValue(task.SummaryField)),
            }).Train;
            if (spec.Kind == TaskKind.Classification && rows.FirstOrDefault(r => !spec.Labels.Contains(r.Answer)) is { } unknown)
                throw new UsageException($"{testFile}: label '{unknown.Answer}' ({unknown.Origin}) is not one the model was trained on ({string.Join(", ", spec.Labels)})");
            var sw = System.Diagnostics.Stopwatch.StartNew();
            var e = TaskEvaluator.Evaluate(ModelRegistry.FromPretrained(dir), encoder, encoder.EncodeAll(rows).Rows, p.GetValue(batch), p.GetValue(maxNew));
            var report = new EvaluationReport
            {
                Task = spec.Kind == TaskKind.Classification ? "classify" : "summarize", Model = dir, TestFile = testFile, TestRows = rows.Count,
                Seconds = sw.Elapsed.TotalSeconds, Classification = e.Classification, Summarization = e.Summarization,
            };
            Console.Write(p.GetValue(json) ? report.ToJson() : TaskRun.Describe(report) + "\n");
            return 0;
        }));
        return cmd;
    }
}
