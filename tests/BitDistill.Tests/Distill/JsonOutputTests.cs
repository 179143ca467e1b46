using System.Text.Json.Nodes;
using BitDistill.Distill.Data;
using BitDistill.Distill.Evaluation;
using BitDistill.Distill.Objectives;
using BitDistill.Distill.Reports;
using BitDistill.Distill.Training;
using BitDistill.Models;
using BitDistill.Models.Qwen;
using BitDistill.Tensors;

namespace BitDistill.Tests.Distill;

/// <summary>Every JSON result follows one set of rules: snake_case names, no NaN or Infinity (null instead), the seed, the
/// steps, the settings and the code version recorded; learning rates on the console read as numbers people write.</summary>
public sealed class JsonOutputTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bitdistill-json").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void NonFiniteNumbersBecomeNullAndTheCodeVersionIsKnown()
    {
        var o = new JsonObject { ["a"] = double.NaN, ["b"] = new JsonArray(1.0, double.PositiveInfinity), ["c"] = new JsonObject { ["d"] = float.NegativeInfinity }, ["e"] = 2.5 };
        var text = JsonReports.ToText(o);
        Assert.DoesNotContain("NaN", text);
        Assert.DoesNotContain("Infinity", text);
        var back = JsonNode.Parse(text)!;
        Assert.Null(back["a"]);
        Assert.Null(back["b"]![1]);
        Assert.Null(back["c"]!["d"]);
        Assert.Equal(2.5, back["e"]!.GetValue<double>());
        Assert.False(string.IsNullOrWhiteSpace(JsonReports.CodeVersion));
    }

    [Theory]
    [InlineData(0.0, "0")]
    [InlineData(3e-4, "3e-4")]
    [InlineData(1.5e-3, "1.5e-3")]
    [InlineData(0.05, "0.05")]
    [InlineData(2e5, "2e5")]
    public void LearningRatesPrintReadably(double lr, string expected) => Assert.Equal(expected, JsonReports.Readable(lr));

    private sealed class NanTerm : ITrainingObjective
    {
        public string Name => "nan-term";
        public ObjectiveResult Compute(CausalLanguageModel model, TrainingBatch batch)
        {
            var r = new CausalLmObjective().Compute(model, batch);
            return r with { Terms = new Dictionary<string, double> { ["ce"] = r.Loss.Item(), ["ld"] = double.NaN } };
        }
    }

    [Fact]
    public void MetricsJsonlRecordsTheRunAndWritesNullForNonFiniteTerms()
    {
        var model = ModelRegistry.Create(QwenConfig.Parse("""
            {"model_type": "qwen3", "vocab_size": 53, "hidden_size": 16, "intermediate_size": 24, "num_hidden_layers": 1,
             "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 8, "rms_norm_eps": 1e-6, "rope_theta": 10000,
             "tie_word_embeddings": true, "max_position_embeddings": 64, "hidden_act": "silu"}
            """), new Generator(3));
        var data = new TokenDataset(Enumerable.Range(0, 2000).Select(i => (i * 7 + i / 13) % 53).ToArray(), "synthetic");
        var log = new StringWriter();
        Trainer.Train(model, new CorpusBatches(data, 2, 12, 1), new NanTerm(), new TrainingOptions
        {
            Steps = 3, BatchSize = 2, SeqLen = 12, LearningRate = 3e-4f, WarmupSteps = 2, CheckpointDir = _dir, CheckpointEvery = 10, Name = "t", Seed = 42, Log = log,
        });
        var text = File.ReadAllText(Path.Combine(_dir, "metrics.jsonl"));
        Assert.DoesNotContain("NaN", text);
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!).ToArray();
        var run = lines[0]["run"]!;
        Assert.Equal(3, run["steps"]!.GetValue<long>());
        Assert.Equal("42", run["seed"]!.GetValue<string>());
        Assert.Equal(JsonReports.CodeVersion, run["code_version"]!.GetValue<string>());
        Assert.NotNull(run["learning_rate"]);
        Assert.All(lines.Skip(1), l => Assert.Null(l["terms"]!["ld"]));
        Assert.All(lines.SelectMany(l => l.AsObject().Select(p => p.Key)), k => Assert.Equal(k.ToLowerInvariant(), k));
        Assert.DoesNotContain("E+0", log.ToString());
        Assert.DoesNotContain("E-0", log.ToString());
    }

    [Fact]
    public void AnEvaluationReportWritesNullForANonFiniteNumberAndItsCodeVersion()
    {
        var json = new EvaluationReport { Task = "classify", TestRows = 0, Seconds = double.NaN }.ToJson();
        Assert.DoesNotContain("NaN", json);
        var o = JsonNode.Parse(json)!;
        Assert.Equal(JsonReports.CodeVersion, o["code_version"]!.GetValue<string>());
        Assert.Null(o["seconds"]);
        Assert.True(double.IsNaN(EvaluationReport.FromJson(json).Seconds));
    }
}
