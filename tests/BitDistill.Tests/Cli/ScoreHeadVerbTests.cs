using System.Text.Json;
using BitDistill.Autograd;
using BitDistill.Cli;
using BitDistill.Distill.Data;
using BitDistill.Distill.Tasks;
using BitDistill.Models;
using BitDistill.Models.Classification;
using BitDistill.Models.Qwen;
using BitDistill.Models.Tokenization;
using BitDistill.Tensors;

namespace BitDistill.Tests.Cli;

/// <summary><c>--head score</c> through the verbs on the shipped sentiment task with a tiny model: finetune (FP and --bitnet)
/// writes a Hugging Face Qwen3ForSequenceClassification folder that evaluate and classify detect from its config, distill
/// needs a score-head teacher, compare passes the head to every method, and bad combinations are one line with exit code 2.</summary>
[Collection("Serial")]
public sealed class ScoreHeadVerbTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bitdistill-score-verbs").FullName;
    private static string Data(params string[] p) => Path.Combine([AppContext.BaseDirectory, "data", .. p]);
    private static string Train => Data("tasks", "sentiment", "train.jsonl.gz");

    public void Dispose() => Directory.Delete(_dir, true);

    private string BaseModel()
    {
        var path = Path.Combine(_dir, "base");
        if (Directory.Exists(path)) return path;
        var model = ModelRegistry.Create(QwenConfig.Parse("""
            {"model_type": "qwen3", "vocab_size": 2048, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
             "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 16, "rms_norm_eps": 1e-6, "rope_theta": 10000,
             "tie_word_embeddings": true, "max_position_embeddings": 256, "hidden_act": "silu"}
            """), new Generator(11));
        model.SavePretrained(path);
        ModelFolders.CopyTokenizer(Data("tokenizer"), path);
        return path;
    }

    private string SmallTest(int n)
    {
        var rows = TaskFile.Read(Data("tasks", "sentiment", "test.jsonl.gz"), TaskKind.Classification).Rows.Take(n).ToArray();
        var path = Path.Combine(_dir, "sentiment-test.jsonl");
        File.WriteAllLines(path, rows.Select(r => JsonSerializer.Serialize(new { text = r.Text, label = r.Answer })));
        return path;
    }

    private static (int Code, string Out, string Err) Run(params string[] args) => CliRunner.Run(args);

    private string Finetune(string name, string test, params string[] extra)
    {
        var ft = Path.Combine(_dir, name);
        var r = Run(["finetune", "--model", BaseModel(), "--task", "classify", "--head", "score", "--train", Train, "--test", test,
            "--steps", "4", "--batch", "4", "--eval-every", "2", "--eval-rows", "16", "--max-length", "64", "--output", ft, .. extra]);
        Assert.True(r.Code == 0, r.Err + r.Out);
        return ft;
    }

    [Fact]
    public void FinetuneEvaluateClassifyAndDistillWithAScoreHead()
    {
        var test = SmallTest(24);
        var ft = Finetune("ft", test);
        var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(ft, "config.json"))).RootElement;
        Assert.Equal("Qwen3ForSequenceClassification", config.GetProperty("architectures")[0].GetString());
        Assert.Equal(2, config.GetProperty("num_labels").GetInt32());
        Assert.Equal("negative", config.GetProperty("id2label").GetProperty("0").GetString());
        Assert.Equal(1, config.GetProperty("label2id").GetProperty("positive").GetInt32());
        Assert.Equal(ClassificationHead.Score, TaskSpec.Load(ft).Head);
        var eval = JsonDocument.Parse(File.ReadAllText(Path.Combine(ft, "eval.json"))).RootElement.GetProperty("classification");
        Assert.Equal(24, eval.GetProperty("confusion_matrix").EnumerateArray().Sum(row => row.EnumerateArray().Sum(v => v.GetInt32())));

        // evaluate detects the head from config.json: the reloaded model scores exactly as the one finetune evaluated in memory
        var r = Run("evaluate", "--model", ft, "--test", test, "--json");
        Assert.True(r.Code == 0, r.Err);
        var again = JsonDocument.Parse(r.Out).RootElement.GetProperty("classification");
        Assert.Equal(eval.GetProperty("accuracy").GetDouble(), again.GetProperty("accuracy").GetDouble());
        Assert.Equal(eval.GetProperty("macro_f1").GetDouble(), again.GetProperty("macro_f1").GetDouble());
        Assert.Equal(eval.GetProperty("confusion_matrix").ToString(), again.GetProperty("confusion_matrix").ToString());
        Assert.Equal(0, Run("evaluate", "--model", ft, "--test", test, "--head", "score").Code);

        // classify prints the label and the probabilities of the score head, the same as the reloaded model's softmax
        const string Text = "A wonderful, moving film.";
        r = Run("classify", "--model", ft, "--text", Text);
        Assert.True(r.Code == 0, r.Err);
        var c = JsonDocument.Parse(r.Out).RootElement;
        var probs = c.GetProperty("probabilities");
        Assert.Equal(1.0, probs.EnumerateObject().Sum(p => p.Value.GetDouble()), 4);
        var model = Assert.IsType<QwenForSequenceClassification>(ModelRegistry.FromPretrained(ft));
        var spec = TaskSpec.Load(ft);
        var row = spec.Encoder(TextTokenizer.Load(ft)).Encode(new TaskExample(Text, null, "negative", "test"));
        float[] p;
        using (GradMode.NoGrad()) p = model.Scores(Tensor.FromArray(row.Prompt.Select(x => (long)x).ToArray(), [1, row.Prompt.Length])).Value.Softmax(-1).ToFloatArray();
        Assert.Equal(p[0], probs.GetProperty("negative").GetDouble(), 5);
        Assert.Equal(p[1], probs.GetProperty("positive").GetDouble(), 5);
        Assert.Equal(p[1] > p[0] ? "positive" : "negative", c.GetProperty("label").GetString());

        r = Run("inspect", ft);
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("labels negative, positive", r.Out);
        Assert.Matches(@"score\s+64\b", r.Out);  // 2 labels × hidden 32
        Assert.Contains("matches config.json", r.Out);

        // a classifier generates no text
        r = Run("generate", "--model", ft, "--prompt", "hello");
        Assert.Equal(ErrorPolicy.BadInput, r.Code);
        Assert.Contains("classify", r.Err);

        // distill: stage 2 trains the causal LM, stage 3 its stack with the teacher's score head; the student's config is a
        // ternary sequence classifier; LD is logged
        var corpus = Path.Combine(_dir, "corpus.txt");
        File.WriteAllText(corpus, string.Join("\n\n", Enumerable.Range(0, 200).Select(i => $"It was the {i}th morning, and the weather was fine for a walk.")));
        var st = Path.Combine(_dir, "student");
        r = Run("distill", "--teacher", ft, "--head", "score", "--train", Train, "--test", test, "--corpus", corpus, "--stage2-tokens", "256",
            "--stage2-seq-len", "16", "--steps", "3", "--batch", "4",
            "--eval-rows", "8", "--gamma", "10", "--ad-layer", "1", "--relation-heads", "4", "--output", st);
        Assert.True(r.Code == 0, r.Err + r.Out);
        Assert.Contains("score head: initialised from the teacher's", r.Out);
        var sc = File.ReadAllText(Path.Combine(st, "config.json"));
        Assert.Contains("\"bitnet\"", sc);
        Assert.Contains("Qwen3ForSequenceClassification", sc);
        Assert.Contains("\"ld\"", File.ReadAllText(Path.Combine(st, "run", "task", "metrics.jsonl")));
        Assert.True(File.Exists(Path.Combine(st, "run", "stage2", "checkpoint", "model.safetensors")));
        r = Run("evaluate", "--model", st, "--test", test, "--json");
        Assert.True(r.Code == 0, r.Err);
        var distilled = JsonDocument.Parse(File.ReadAllText(Path.Combine(st, "eval.json"))).RootElement.GetProperty("classification");
        Assert.Equal(distilled.GetProperty("accuracy").GetDouble(), JsonDocument.Parse(r.Out).RootElement.GetProperty("classification").GetProperty("accuracy").GetDouble());
        Assert.Equal(0, Run("classify", "--model", st, "--text", Text).Code);

        // a label-words request of a score-head model is refused, naming the folder
        r = Run("evaluate", "--model", ft, "--test", test, "--head", "label-words");
        Assert.Equal(ErrorPolicy.BadInput, r.Code);
        Assert.Contains(ft, r.Err);
        r = Run("distill", "--teacher", ft, "--head", "label-words", "--train", Train, "--no-stage2", "--output", Path.Combine(_dir, "x"));
        Assert.Equal(ErrorPolicy.BadInput, r.Code);
        Assert.Contains(ft, r.Err);
    }

    [Fact]
    public void BitNetSftWithAScoreHeadKeepsTheHeadFullPrecision()
    {
        var test = SmallTest(8);
        var ft = Finetune("bitnet", test, "--bitnet");
        var model = Assert.IsType<QwenForSequenceClassification>(ModelRegistry.FromPretrained(ft));
        Assert.Equal(typeof(BitDistill.Models.Layers.Linear), model.Score.GetType());
        Assert.Contains(model.NamedModules(), m => m.Module is BitDistill.Models.BitNet.BitLinear);
        var r = Run("evaluate", "--model", ft, "--test", test, "--json");
        Assert.True(r.Code == 0, r.Err);
    }

    [Fact]
    public void CompareRunsEveryMethodWithTheScoreHead()
    {
        var report = Path.Combine(_dir, "report");
        var r = Run("compare", "--task", "classify", "--head", "score", "--train", Train, "--test", SmallTest(16), "--base", BaseModel(),
            "--methods", "fp-sft,bitnet-sft,bitdistill-no-stage2", "--budget", "quick", "--steps", "2", "--batch", "4", "--eval-rows", "8",
            "--max-length", "64", "--gamma", "10", "--relation-heads", "4", "--report", report);
        Assert.True(r.Code == 0, r.Err + r.Out);
        var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(report, "report.json"))).RootElement;
        Assert.Equal("score", json.GetProperty("head").GetString());
        var results = json.GetProperty("results").EnumerateArray().ToArray();
        Assert.Equal(3, results.Length);
        Assert.All(results, x => Assert.InRange(x.GetProperty("accuracy").GetDouble(), 0, 1));
        // a classifier decodes no text, so no decode speed is measured
        Assert.All(results, x => Assert.Equal(JsonValueKind.Null, x.GetProperty("decode_tokens_per_second").ValueKind));
    }

    [Theory]
    [InlineData("--head score with summarize", "finetune", "--model", "{base}", "--task", "summarize", "--head", "score", "--train", "{train}", "--output", "{out}")]
    [InlineData("label-words or score", "finetune", "--model", "{base}", "--task", "classify", "--head", "logits", "--train", "{train}", "--output", "{out}")]
    [InlineData("--label-words", "finetune", "--model", "{base}", "--task", "classify", "--head", "score", "--label-words", "negative=bad,positive=good", "--train", "{train}", "--output", "{out}")]
    [InlineData("label-words or score", "compare", "--base", "{base}", "--task", "classify", "--head", "Score", "--train", "{train}", "--report", "{out}")]
    [InlineData("{teacher}", "distill", "--teacher", "{teacher}", "--head", "score", "--train", "{train}", "--no-stage2", "--output", "{out}")]
    public void BadHeadInputIsOneLineWithExitCode2(string expected, params string[] template)
    {
        var baseDir = BaseModel();
        // a label-word "teacher": the base model with a task.json, as finetune writes one
        var teacher = Path.Combine(_dir, "teacher");
        Directory.CreateDirectory(teacher);
        foreach (var f in Directory.GetFiles(baseDir)) File.Copy(f, Path.Combine(teacher, Path.GetFileName(f)), true);
        new TaskSpec(TaskKind.Classification, ["negative", "positive"], null, 64, PromptTemplate.Default).Save(teacher);
        string Fill(string a) => a.Replace("{base}", baseDir).Replace("{train}", Train).Replace("{out}", Path.Combine(_dir, "out")).Replace("{teacher}", teacher);
        var args = template.Select(Fill).ToArray();
        var r = Run(args);
        Assert.True(r.Code == ErrorPolicy.BadInput, $"exit {r.Code}: {r.Err}");
        Assert.Single(r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"bitdistill {args[0]}: ", r.Err);
        Assert.Contains(Fill(expected == "--head score with summarize" ? "--head score needs --task classify" : expected), r.Err);
        Assert.False(Directory.Exists(Path.Combine(_dir, "out")) && Directory.EnumerateFileSystemEntries(Path.Combine(_dir, "out")).Any(), "nothing written");
    }
}
