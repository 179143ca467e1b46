using System.Text.Json;
using BitDistill.Cli;
using BitDistill.Distill.Data;
using BitDistill.Models;
using BitDistill.Models.BitNet;
using BitDistill.Models.Qwen;
using BitDistill.Tensors;

namespace BitDistill.Tests.Cli;

/// <summary>`distill --weight-quant gptq[:R] | awq[:R]`: a bad spec is one line naming the option before anything is read, and
/// a tiny distillation with each training quantiser writes a student that reloads and evaluates as it was trained.</summary>
[Collection("Serial")]
public sealed class WeightQuantizerVerbTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bitdistill-wq").FullName;
    private static string Data(params string[] p) => Path.Combine([AppContext.BaseDirectory, "data", .. p]);

    public void Dispose() => Directory.Delete(_dir, true);

    [Theory]
    [InlineData("gptq:0")]
    [InlineData("awq:x")]
    [InlineData("gptq:-3")]
    [InlineData("awq:")]
    [InlineData("hqq")]
    [InlineData("group:0")]
    public void ABadWeightQuantSpecIsOneLineNamingTheOption(string spec)
    {
        var r = CliRunner.Run("distill", "--teacher", "/nonexistent", "--train", "/nonexistent.jsonl", "--output", Path.Combine(_dir, "out"), "--weight-quant", spec);
        Assert.True(r.Code == ErrorPolicy.BadInput, $"exit {r.Code}: {r.Err}");
        Assert.Single(r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("bitdistill distill: ", r.Err);
        Assert.Contains("--weight-quant", r.Err);
    }

    [Fact]
    public void TheHelpSaysWhatTheTrainingQuantisersDo()
    {
        var r = CliRunner.Run("distill", "--help");
        Assert.Contains("gptq[:R]", r.Out);
        Assert.Contains("awq[:R]", r.Out);
        Assert.Contains("XᵀX", r.Out);
    }

    [Fact]
    public void ATinyDistillationWithEachTrainingQuantiserReloadsAndEvaluatesAsTrained()
    {
        var baseDir = Path.Combine(_dir, "base");
        ModelRegistry.Create(QwenConfig.Parse("""
            {"model_type": "qwen3", "vocab_size": 2048, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
             "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 16, "rms_norm_eps": 1e-6, "rope_theta": 10000,
             "tie_word_embeddings": true, "max_position_embeddings": 256, "hidden_act": "silu"}
            """), new Generator(11)).SavePretrained(baseDir);
        ModelFolders.CopyTokenizer(Data("tokenizer"), baseDir);
        var rows = TaskFile.Read(Data("tasks", "sentiment", "test.jsonl.gz"), TaskKind.Classification).Rows.Take(16).ToArray();
        var test = Path.Combine(_dir, "test.jsonl");
        File.WriteAllLines(test, rows.Select(x => JsonSerializer.Serialize(new { text = x.Text, label = x.Answer })));
        var train = Data("tasks", "sentiment", "train.jsonl.gz");
        var ft = Path.Combine(_dir, "ft");
        var r = CliRunner.Run("finetune", "--model", baseDir, "--task", "classify", "--train", train, "--test", test,
            "--steps", "2", "--batch", "4", "--eval-rows", "8", "--max-length", "64", "--output", ft);
        Assert.True(r.Code == 0, r.Err + r.Out);
        foreach (var (spec, kind) in new[] { ("gptq:2", WeightQuantizer.Gptq), ("awq:2", WeightQuantizer.Awq) })
        {
            var st = Path.Combine(_dir, spec.Replace(':', '-'));
            r = CliRunner.Run("distill", "--teacher", ft, "--train", train, "--test", test, "--no-stage2", "--weight-quant", spec,
                "--steps", "4", "--batch", "4", "--eval-rows", "8", "--gamma", "10", "--ad-layer", "1", "--relation-heads", "4", "--output", st);
            Assert.True(r.Code == 0, r.Err + r.Out);
            var cfg = BitNetConfig.From(ModelRegistry.FromPretrained(st).Config)!;
            Assert.Equal(kind, cfg.WeightQuant);
            Assert.Equal(2, cfg.RequantEvery);
            var trained = JsonDocument.Parse(File.ReadAllText(Path.Combine(st, "eval.json"))).RootElement.GetProperty("classification");
            r = CliRunner.Run("evaluate", "--model", st, "--test", test, "--json");
            Assert.True(r.Code == 0, r.Err);
            var again = JsonDocument.Parse(r.Out).RootElement.GetProperty("classification");
            Assert.Equal(trained.GetProperty("accuracy").GetDouble(), again.GetProperty("accuracy").GetDouble());
            Assert.Equal(trained.GetProperty("confusion_matrix").ToString(), again.GetProperty("confusion_matrix").ToString());
        }
    }
}
