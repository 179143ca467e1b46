using System.Text.Json.Nodes;
using BitDistill.Distill.Data;
using BitDistill.Distill.Tasks;
using BitDistill.Models;
using BitDistill.Models.BitNet;
using BitDistill.Models.Qwen;
using BitDistill.Tensors;

namespace BitDistill.Tests.Cli;

/// <summary>The defects the re-run of the hostile-input campaign (bench/hostile/campaign.py) found, each held by a test:
/// damaged configs that were accepted, NaN weights that still produced a class, options validated too late, and export
/// shipping a broken tokenizer.</summary>
[Collection("Serial")]
public sealed class HostileInputTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bitdistill-hostile").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Data(params string[] p) => Path.Combine([AppContext.BaseDirectory, "data", .. p]);

    /// <summary>A tiny classifier folder (weights, tokenizer, task.json), optionally ternary, with every weight set to <paramref name="fill"/>.</summary>
    private string TaskModel(string name, bool ternary = false, float? fill = null)
    {
        var path = Path.Combine(_dir, name);
        CausalLanguageModel model = ModelRegistry.Create(QwenConfig.Parse("""
            {"model_type": "qwen3", "vocab_size": 2048, "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
             "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 8, "rms_norm_eps": 1e-6, "rope_theta": 10000,
             "tie_word_embeddings": true, "max_position_embeddings": 128, "hidden_act": "silu"}
            """), new Generator(1));
        if (ternary) model = Refiner.Refine(model, new BitNetConfig());
        if (fill is { } f) foreach (var p in model.Parameters()) p.Value.Fill(f);
        model.SavePretrained(path);
        ModelFolders.CopyTokenizer(Data("tokenizer"), path);
        new TaskSpec(TaskKind.Classification, ["negative", "positive"], null, 64, PromptTemplate.Default).Save(path);
        return path;
    }

    private static void AssertRefused(string verb, (int Code, string Out, string Err) r, string expected)
    {
        Assert.True(r.Code == 2, $"exit {r.Code}; stdout: {r.Out}; stderr: {r.Err}");
        var line = Assert.Single(r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"bitdistill {verb}: ", line);
        Assert.Contains(expected, line);
    }

    [Theory]
    [InlineData("max_position_embeddings", "-5")]
    [InlineData("eos_token_id", "-1")]
    [InlineData("bos_token_id", "-7")]
    public void ANegativeSizeOrTokenIdInConfigJsonIsRefusedNamingTheField(string field, string value)
    {
        var m = TaskModel("cfg-" + field);
        var cfg = Path.Combine(m, "config.json");
        var json = JsonNode.Parse(File.ReadAllText(cfg))!.AsObject();
        json[field] = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture);
        File.WriteAllText(cfg, json.ToJsonString());
        AssertRefused("generate", CliRunner.Run("generate", "--model", m, "--prompt-ids", "1,2", "--max-new-tokens", "1"), field);
        AssertRefused("classify", CliRunner.Run("classify", "--model", m, "--text", "fine"), field);
    }

    [Fact]
    public void ClassifyAndEvaluateRefuseAModelWhoseScoresAreNaN()
    {
        var m = TaskModel("nan", fill: float.NaN);
        var test = Path.Combine(_dir, "t.jsonl");
        File.WriteAllText(test, "{\"text\": \"great\", \"label\": \"positive\"}\n{\"text\": \"awful\", \"label\": \"negative\"}\n");
        foreach (var (verb, args) in new[] { ("classify", new[] { "--model", m, "--text", "fine" }), ("evaluate", ["--model", m, "--test", test]) })
        {
            var r = CliRunner.Run([verb, .. args]);
            Assert.NotEqual(0, r.Code);
            Assert.Contains("not finite", r.Err);
            Assert.DoesNotContain("\"label\"", r.Out);
        }
    }

    [Theory]
    [InlineData("--weight-decay", "-1", "--weight-decay")]
    [InlineData("--weight-decay", "NaN", "--weight-decay")]
    [InlineData("--max-length", "100000", "max_position_embeddings")]
    [InlineData("--threads", "100000", "--threads")]
    public void FinetuneRefusesAnImpossibleOptionBeforeAnyWork(string option, string value, string named)
    {
        var m = TaskModel("ft-" + option.Trim('-') + value);
        var output = Path.Combine(_dir, "out-" + option.Trim('-') + value);
        AssertRefused("finetune", CliRunner.Run("finetune", "--model", m, "--task", "classify", "--train", Data("tasks", "sentiment", "train.jsonl.gz"),
            "--steps", "1", "--output", output, option, value), named);
        Assert.False(Directory.Exists(output) && Directory.EnumerateFileSystemEntries(output).Any(), "the refused run wrote into its output folder");
    }

    [Theory]
    [InlineData("tokenizer.json", "{")]
    [InlineData("task.json", "{\"kind\": ")]
    public void ExportRefusesToShipABrokenSideFile(string file, string content)
    {
        var m = TaskModel("export-" + file, ternary: true);
        File.WriteAllText(Path.Combine(m, file), content);
        var output = Path.Combine(_dir, "packed-" + file);
        AssertRefused("export", CliRunner.Run("export", "--model", m, "--format", "i2", "--output", output), file);
        Assert.False(Directory.Exists(output));
    }
}
