using System.Text.Json;
using BitDistill.Cli;
using BitDistill.Distill.Data;
using BitDistill.Models;
using BitDistill.Models.Qwen;
using BitDistill.Tensors;

namespace BitDistill.Tests.Cli;

/// <summary>The task verbs end to end on the shipped tasks with a tiny model: finetune writes a model that evaluate and classify
/// use as it was trained, distill runs stages 1-3 (and the ablation switches), and bad input is one line with exit code 2.</summary>
[Collection("Serial")]
public sealed class TaskVerbTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bitdistill-verbs").FullName;
    private static string Data(params string[] p) => Path.Combine([AppContext.BaseDirectory, "data", .. p]);

    public void Dispose() => Directory.Delete(_dir, true);

    private string BaseModel()
    {
        var path = Path.Combine(_dir, "base");
        var model = ModelRegistry.Create(QwenConfig.Parse("""
            {"model_type": "qwen3", "vocab_size": 2048, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
             "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 16, "rms_norm_eps": 1e-6, "rope_theta": 10000,
             "tie_word_embeddings": true, "max_position_embeddings": 256, "hidden_act": "silu"}
            """), new Generator(11));
        model.SavePretrained(path);
        ModelFolders.CopyTokenizer(Data("tokenizer"), path);
        return path;
    }

    // the first n rows of a shipped task's test file, as plain JSONL
    private string SmallTest(string task, int n)
    {
        var rows = TaskFile.Read(Data("tasks", task, "test.jsonl.gz"), task == "debian-summary" ? TaskKind.Summarization : TaskKind.Classification).Rows.Take(n).ToArray();
        var path = Path.Combine(_dir, task + "-test.jsonl");
        File.WriteAllLines(path, rows.Select(r => task == "debian-summary"
            ? JsonSerializer.Serialize(new { document = r.Text, summary = r.Answer })
            : r.TextPair is null ? JsonSerializer.Serialize(new { text = r.Text, label = r.Answer }) : JsonSerializer.Serialize(new { text = r.Text, text_pair = r.TextPair, label = r.Answer })));
        return path;
    }

    private static (int Code, string Out, string Err) Run(params string[] args) => CliRunner.Run(args);

    [Fact]
    public void FinetuneEvaluateClassifyAndDistillAClassifier()
    {
        var baseDir = BaseModel();
        var test = SmallTest("sentiment", 24);
        var ft = Path.Combine(_dir, "ft");
        var r = Run("finetune", "--model", baseDir, "--task", "classify", "--train", Data("tasks", "sentiment", "train.jsonl.gz"), "--test", test,
            "--steps", "4", "--batch", "4", "--eval-every", "2", "--eval-rows", "16", "--max-length", "64", "--output", ft);
        Assert.True(r.Code == 0, r.Err + r.Out);
        foreach (var f in new[] { "model.safetensors", "tokenizer.json", "task.json", "recipe.json", "run.json", "eval.json", "loss.png", "validation.png" })
            Assert.True(File.Exists(Path.Combine(ft, f)), f);
        var eval = JsonDocument.Parse(File.ReadAllText(Path.Combine(ft, "eval.json"))).RootElement.GetProperty("classification");
        Assert.Equal(24, eval.GetProperty("count").GetInt32());
        Assert.Equal(24, eval.GetProperty("confusion_matrix").EnumerateArray().Sum(row => row.EnumerateArray().Sum(v => v.GetInt32())));
        Assert.Contains("\"fp-sft\"", File.ReadAllText(Path.Combine(ft, "recipe.json")));

        // evaluate asks the model as it was trained: the same accuracy as finetune's own test evaluation
        r = Run("evaluate", "--model", ft, "--test", test, "--json");
        Assert.True(r.Code == 0, r.Err);
        var again = JsonDocument.Parse(r.Out).RootElement.GetProperty("classification");
        Assert.Equal(eval.GetProperty("accuracy").GetDouble(), again.GetProperty("accuracy").GetDouble());

        r = Run("classify", "--model", ft, "--text", "A wonderful, moving film.");
        Assert.True(r.Code == 0, r.Err);
        var c = JsonDocument.Parse(r.Out).RootElement;
        Assert.Contains(c.GetProperty("label").GetString(), new[] { "negative", "positive" });
        Assert.Equal(1.0, c.GetProperty("probabilities").EnumerateObject().Sum(p => p.Value.GetDouble()), 4);

        // distill: stages 1-3 with a small stage 2, then the no-stage-2 / no-AD ablation
        var corpus = Path.Combine(_dir, "corpus.txt");
        File.WriteAllText(corpus, string.Join("\n\n", Enumerable.Range(0, 200).Select(i => $"It was the {i}th morning, and the weather was fine for a walk.")));
        var st = Path.Combine(_dir, "student");
        r = Run("distill", "--teacher", ft, "--train", Data("tasks", "sentiment", "train.jsonl.gz"), "--test", test, "--corpus", corpus,
            "--stage2-tokens", "256", "--stage2-seq-len", "16", "--steps", "3", "--batch", "4", "--eval-rows", "8", "--gamma", "10", "--ad-layer", "1", "--relation-heads", "4", "--output", st);
        Assert.True(r.Code == 0, r.Err + r.Out);
        Assert.Contains("\"bitnet\"", File.ReadAllText(Path.Combine(st, "config.json")));
        Assert.True(File.Exists(Path.Combine(st, "run", "stage2", "checkpoint", "model.safetensors")));
        Assert.Contains("\"ad\"", File.ReadAllText(Path.Combine(st, "run", "task", "metrics.jsonl")));
        r = Run("evaluate", "--model", st, "--test", test, "--json");
        Assert.True(r.Code == 0, r.Err);

        // export the distilled student and classify on the runtime: the QAT model's labels and probabilities
        var packed = Path.Combine(_dir, "packed");
        r = Run("export", "--model", st, "--format", "t1.6", "--lm-head", "fp32", "--embeddings", "fp32", "--output", packed);
        Assert.True(r.Code == 0, r.Err + r.Out);
        Assert.True(File.Exists(Path.Combine(packed, "task.json")) && File.Exists(Path.Combine(packed, "tokenizer.json")));
        var qatLines = Run("classify", "--model", st, "--jsonl", test);
        var packedLines = Run("classify", "--model", packed, "--jsonl", test);
        Assert.True(qatLines.Code == 0 && packedLines.Code == 0, qatLines.Err + packedLines.Err);
        var want = qatLines.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        var got = packedLines.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        Assert.Equal(24, got.Length);
        for (int i = 0; i < want.Length; i++)
        {
            Assert.Equal(want[i].GetProperty("label").GetString(), got[i].GetProperty("label").GetString());
            foreach (var p in want[i].GetProperty("probabilities").EnumerateObject())
                Assert.Equal(p.Value.GetDouble(), got[i].GetProperty("probabilities").GetProperty(p.Name).GetDouble(), 4);
        }

        var ab = Path.Combine(_dir, "ablation");
        r = Run("distill", "--teacher", ft, "--train", Data("tasks", "sentiment", "train.jsonl.gz"), "--test", test, "--no-stage2", "--no-ad", "--subln", "none", "--weight-quant", "group:8",
            "--steps", "2", "--batch", "4", "--eval-rows", "8", "--output", ab);
        Assert.True(r.Code == 0, r.Err + r.Out);
        var recipe = File.ReadAllText(Path.Combine(ab, "recipe.json"));
        Assert.Contains("\"continued_pretraining\": false", recipe);
        Assert.Contains("\"attention_distillation_weight\": 0", recipe);
        Assert.Contains("\"subln\": \"none\"", recipe);
        Assert.Contains("\"weight_scale\": \"per_group\"", recipe);
        Assert.DoesNotContain("\"ad\"", File.ReadAllText(Path.Combine(ab, "run", "task", "metrics.jsonl")));
    }

    [Fact]
    public void FinetuneAndEvaluateASummarizer()
    {
        var baseDir = BaseModel();
        var test = SmallTest("debian-summary", 6);
        var ft = Path.Combine(_dir, "sum");
        var r = Run("finetune", "--model", baseDir, "--task", "summarize", "--train", Data("tasks", "debian-summary", "train.jsonl.gz"), "--test", test,
            "--steps", "2", "--batch", "4", "--eval-rows", "4", "--max-length", "96", "--output", ft);
        Assert.True(r.Code == 0, r.Err + r.Out);
        r = Run("evaluate", "--model", ft, "--test", test, "--json", "--max-new-tokens", "8");
        Assert.True(r.Code == 0, r.Err);
        var s = JsonDocument.Parse(r.Out).RootElement.GetProperty("summarization");
        Assert.Equal(6, s.GetProperty("count").GetInt32());
        foreach (var m in new[] { "rouge1", "rouge2", "rougeL" }) Assert.InRange(s.GetProperty(m).GetDouble(), 0, 1);
        Assert.InRange(s.GetProperty("bleu").GetDouble(), 0, 100);
    }

    [Fact]
    public void CompareWritesTheReportWithEveryMethodAndSeed()
    {
        var baseDir = BaseModel();
        var report = Path.Combine(_dir, "report");
        var r = Run("compare", "--task", "classify", "--train", Data("tasks", "sentiment", "train.jsonl.gz"), "--test", SmallTest("sentiment", 16), "--base", baseDir,
            "--methods", "fp-sft,bitnet-sft,bitdistill-no-stage2", "--seeds", "2", "--budget", "quick", "--steps", "2", "--batch", "4", "--eval-rows", "8",
            "--max-length", "64", "--gamma", "10", "--relation-heads", "4", "--lr-sweep", "1e-3,3e-3", "--report", report);
        Assert.True(r.Code == 0, r.Err + r.Out);
        var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(report, "report.json"))).RootElement;
        Assert.Equal("classify", json.GetProperty("task").GetString());
        Assert.Equal(16, json.GetProperty("test_rows").GetInt32());
        var results = json.GetProperty("results").EnumerateArray().ToArray();
        Assert.Equal(6, results.Length);
        Assert.All(results, x => Assert.InRange(x.GetProperty("accuracy").GetDouble(), 0, 1));
        Assert.All(results, x => Assert.Contains(new[] { 1e-3, 3e-3 }, v => Math.Abs(x.GetProperty("learning_rate").GetDouble() - v) < 1e-9));
        Assert.True(results.First(x => x.GetProperty("method").GetString() == "bitnet-sft").GetProperty("weights_bytes").GetInt64()
                    < results.First(x => x.GetProperty("method").GetString() == "fp-sft").GetProperty("weights_bytes").GetInt64());
        foreach (var s in json.GetProperty("summary").EnumerateArray())
        {
            var ci = s.GetProperty("accuracy_ci95").EnumerateArray().Select(v => v.GetDouble()).ToArray();
            double mean = s.GetProperty("accuracy_mean").GetDouble();
            Assert.True(ci[0] <= mean && mean <= ci[1], $"{s}");
        }
        Assert.True(File.Exists(Path.Combine(report, "report.md")) && File.Exists(Path.Combine(report, "accuracy.png")));
    }

    [Theory]
    [InlineData("finetune", "--model", "{base}", "--train", "{train}", "--output", "{out}")] // no --task
    [InlineData("finetune", "--model", "{base}", "--task", "classify", "--train", "/nonexistent.jsonl", "--output", "{out}")]
    [InlineData("finetune", "--model", "{base}", "--task", "classify", "--train", "{train}", "--output", "{out}", "--batch", "0")]
    [InlineData("finetune", "--model", "{base}", "--task", "classify", "--train", "{train}", "--output", "{base}")]
    [InlineData("distill", "--teacher", "{base}", "--train", "{train}", "--output", "{out}")] // no task.json
    [InlineData("evaluate", "--model", "{base}", "--test", "{train}")]
    [InlineData("classify", "--model", "{base}", "--text", "hi")]
    [InlineData("distill", "--teacher", "{base}", "--train", "{train}", "--output", "{out}", "--weight-quant", "gptq:0")]
    [InlineData("distill", "--teacher", "{base}", "--train", "{train}", "--output", "{out}", "--weight-quant", "awq:x")]
    [InlineData("compare", "--base", "{base}", "--task", "classify", "--train", "{train}", "--report", "{out}", "--gamma", "1e3,x")]
    [InlineData("compare", "--base", "{base}", "--task", "classify", "--train", "{train}", "--report", "{out}", "--gamma", "-1")]
    [InlineData("compare", "--base", "{base}", "--task", "classify", "--train", "{train}", "--report", "{out}", "--methods", "magic")]
    public void BadInputIsOneLineWithExitCode2(params string[] template)
    {
        var baseDir = BaseModel();
        var args = template.Select(a => a.Replace("{base}", baseDir).Replace("{train}", Data("tasks", "sentiment", "train.jsonl.gz")).Replace("{out}", Path.Combine(_dir, "out"))).ToArray();
        var r = Run(args);
        Assert.True(r.Code == ErrorPolicy.BadInput, $"exit {r.Code}: {r.Err}");
        Assert.Single(r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"bitdistill {args[0]}: ", r.Err);
    }
}
