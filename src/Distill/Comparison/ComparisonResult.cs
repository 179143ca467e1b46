using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using BitDistill.Distill.Data;
using BitDistill.Distill.Evaluation;
using BitDistill.Distill.Reports;

namespace BitDistill.Distill.Comparison;

/// <summary>The runs of a method comparison on one task, with per-method summaries over seeds (mean and 95 % CI of each
/// metric), the JSON written to report.json (snake_case), a Markdown table and a bar plot.</summary>
public sealed class ComparisonResult(TaskKind kind, IReadOnlyList<string> methods, IReadOnlyList<ComparisonRun> runs)
{
    /// <summary>Classification or summarization.</summary>
    public TaskKind Kind { get; } = kind;
    /// <summary>Method names in table order.</summary>
    public IReadOnlyList<string> Methods { get; } = methods;
    /// <summary>Every (method, seed) run.</summary>
    public IReadOnlyList<ComparisonRun> Runs { get; } = runs;

    /// <summary>The metrics reported for this kind of task: accuracy and macro-F1, or ROUGE-1/2/L and BLEU.</summary>
    public IReadOnlyList<string> MetricNames => Kind == TaskKind.Classification ? ["accuracy", "macro_f1"] : ["rouge1", "rouge2", "rougeL", "bleu"];

    /// <summary>The headline metric's name: accuracy, or ROUGE-L for summarization.</summary>
    public string HeadlineMetric => Kind == TaskKind.Classification ? "accuracy" : "rougeL";

    /// <summary>Mean and 95 % CI of <paramref name="metric"/> over the seeds of <paramref name="method"/>.</summary>
    public MetricSummary Summary(string method, string metric)
    {
        var values = Runs.Where(r => r.Method == method).Select(r => Value(r.Evaluation, metric)).ToArray();
        if (values.Length == 0) throw new ArgumentException($"no runs of method '{method}'");
        var (m, lo, hi) = MethodStatistics.MeanCi95(values);
        return new MetricSummary(metric, m, lo, hi, values.Length);
    }

    /// <summary>A metric of an evaluation by its report name (accuracy, macro_f1, rouge1, rouge2, rougeL in [0, 1]; bleu in [0, 100]).</summary>
    public static double Value(TaskEvaluation e, string metric) => metric switch
    {
        "accuracy" => e.Classification!.Accuracy,
        "macro_f1" => e.Classification!.MacroF1,
        "rouge1" => e.Summarization!.Rouge1,
        "rouge2" => e.Summarization!.Rouge2,
        "rougeL" => e.Summarization!.RougeL,
        "bleu" => e.Summarization!.Bleu,
        _ => throw new ArgumentException($"unknown metric '{metric}'"),
    };

    /// <summary>"results" (one object per run) and "summary" (one per method) as JSON.</summary>
    public JsonObject ToJson()
    {
        var results = new JsonArray();
        foreach (var r in Runs)
        {
            var o = new JsonObject
            {
                ["method"] = r.Method, ["seed"] = r.Seed, ["learning_rate"] = (double)r.LearningRate, ["weights_bytes"] = r.DeployedBytes,
                ["fp16_bytes"] = r.Fp16Bytes, ["train_seconds"] = Math.Round(r.TrainSeconds, 1),
                ["decode_tokens_per_second"] = double.IsFinite(r.DecodeTokensPerSecond) ? Math.Round(r.DecodeTokensPerSecond, 1) : null,
                ["validation_" + HeadlineMetric] = double.IsFinite(r.Validation) ? r.Validation : null,
            };
            foreach (var m in MetricNames) o[m] = Value(r.Evaluation, m);
            results.Add(o);
        }
        var summary = new JsonArray();
        foreach (var method in Methods)
        {
            var mine = Runs.Where(r => r.Method == method).ToArray();
            if (mine.Length == 0) continue;
            var o = new JsonObject { ["method"] = method, ["seeds"] = mine.Length, ["weights_bytes"] = mine[0].DeployedBytes, ["fp16_bytes"] = mine[0].Fp16Bytes };
            foreach (var m in MetricNames)
            {
                var s = Summary(method, m);
                o[m + "_mean"] = s.Mean; o[m + "_ci95"] = new JsonArray(s.Lo, s.Hi);
            }
            var tps = mine.Select(r => r.DecodeTokensPerSecond).Where(double.IsFinite).ToArray();
            o["decode_tokens_per_second"] = tps.Length > 0 ? Math.Round(tps.Average(), 1) : null;
            summary.Add(o);
        }
        return new JsonObject { ["results"] = results, ["summary"] = summary };
    }

    /// <summary>The paper-style table: method, the metrics with their 95 % CIs (in points), weights in MB (FP16 vs deployed),
    /// decode tokens/s.</summary>
    public string ToMarkdown()
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        var names = MetricNames.Select(m => m switch { "accuracy" => "accuracy", "macro_f1" => "macro-F1", "rouge1" => "ROUGE-1", "rouge2" => "ROUGE-2", "rougeL" => "ROUGE-L", _ => "BLEU" }).ToArray();
        sb.AppendLine($"| method | {string.Join(" | ", names.Select(n => n + " (95% CI)"))} | weights MB (FP16 → deployed) | decode tok/s |");
        sb.AppendLine($"|---|{string.Concat(names.Select(_ => "---:|"))}---:|---:|");
        foreach (var method in Methods)
        {
            var mine = Runs.Where(r => r.Method == method).ToArray();
            if (mine.Length == 0) continue;
            var cells = MetricNames.Select(m =>
            {
                var s = Summary(method, m);
                double k = m == "bleu" ? 1 : 100;
                return s.Seeds > 1 ? string.Create(inv, $"{s.Mean * k:F1} [{s.Lo * k:F1}, {s.Hi * k:F1}]") : string.Create(inv, $"{s.Mean * k:F1}");
            });
            var tps = mine.Select(r => r.DecodeTokensPerSecond).Where(double.IsFinite).ToArray();
            sb.AppendLine(string.Create(inv, $"| {method} | {string.Join(" | ", cells)} | {mine[0].Fp16Bytes / 1e6:F1} → {mine[0].DeployedBytes / 1e6:F1} | {(tps.Length > 0 ? tps.Average().ToString("F0", inv) : "")} |"));
        }
        return sb.ToString();
    }

    /// <summary>Line plot of the ternary flip rate (share of ternary weights whose code changed since the previous sample)
    /// through each stage of each ternary method, for the first seed: stage 2 against fine-tuning without it. Returns false
    /// (and writes nothing) when no run sampled any.</summary>
    public bool PlotFlipRates(string path, string title)
    {
        var first = Runs.Select(r => r.Seed).DefaultIfEmpty().Min();
        var series = Runs.Where(r => r.Seed == first && r.FlipRates is not null)
            .SelectMany(r => r.FlipRates!.Where(f => f.Samples.Count > 0).Select(f => ($"{r.Method}: {f.Stage}",
                (IReadOnlyList<double>)f.Samples.Select(x => (double)x.Step).ToArray(), (IReadOnlyList<double>)f.Samples.Select(x => x.FlipRate).ToArray())))
            .ToArray();
        if (series.Length == 0) return false;
        // log scale: rates span orders of magnitude (GPTQ-style runs flipped about 30 % at their first sample, others ≤ 3 % and
        // falling to a few per mille)
        Plots.Lines(path, title, "step within the stage", "share of ternary weights flipped", series, logY: true);
        return true;
    }

    /// <summary>A bar plot of the headline metric's mean per method (in points) with its 95 % CI as whiskers.</summary>
    public void Plot(string path, string title)
    {
        var shown = Methods.Where(m => Runs.Any(r => r.Method == m)).Select(m => Summary(m, HeadlineMetric)).ToArray();
        Plots.Bars(path, title, HeadlineMetric == "accuracy" ? "test accuracy (%); whiskers: 95% CI" : "test ROUGE-L (points); whiskers: 95% CI",
            Methods.Where(m => Runs.Any(r => r.Method == m)).Zip(shown, (m, s) => (m, s.Mean * 100)).ToArray(),
            shown.Select(s => (s.Hi - s.Lo) / 2 * 100).ToArray());
    }
}
