using System.Text.Json;
using BitDistill.Cli;
using BitDistill.Models.BitNet;
using BitDistill.Models.Generation;
using BitDistill.Models.Qwen;
using BitDistill.Runtime;
using static BitDistill.Tests.TestUtil;

namespace BitDistill.Tests.Runtime;

/// <summary>`bitdistill generate` runs full-precision models on the runtime and ternary (QAT) ones on the training model: both give
/// what the library's TextGenerator gives for the same model, prompt and seed.</summary>
public sealed class GenerateOnRuntimeTests
{
    private static JsonElement Json(GenerateCommand.Args a)
    {
        var o = new StringWriter(); var e = new StringWriter();
        Assert.Equal(0, GenerateCommand.Run(a, o, e));
        Assert.Equal("", e.ToString());
        return JsonDocument.Parse(o.ToString()).RootElement.Clone();
    }

    private static void AssertSameAsLibrary(JsonElement json, QwenModel model, int[] prompt, SamplingOptions sampling, int maxNew)
    {
        var expected = new TextGenerator(model).Generate(prompt, new GenerationOptions { MaxNewTokens = maxNew, Sampling = sampling });
        Assert.Equal(expected.GeneratedIds, json.GetProperty("generated_ids").EnumerateArray().Select(x => x.GetInt32()));
        Assert.Equal(expected.StopReason == StopReason.StopToken ? "stop_token" : "max_new_tokens", json.GetProperty("stop_reason").GetString());
        var (ids, logits) = TextGenerator.TopK(expected.PromptLastLogits, 5);
        Assert.Equal(ids, json.GetProperty("top5").GetProperty("ids").EnumerateArray().Select(x => x.GetInt32()));
        var got = json.GetProperty("top5").GetProperty("logits").EnumerateArray().Select(x => x.GetSingle()).ToArray();
        Assert.True(RelErr(got, logits) <= 1e-5);
    }

    [Theory]
    [InlineData("qwen3-tied", true, 0UL)]
    [InlineData("qwen3-untied-bias", false, 9UL)]
    [InlineData("qwen2-tied", false, 4UL)]
    public void FullPrecisionModelsGiveTheLibrarysTokens(string name, bool greedy, ulong seed)
    {
        var dir = FixturePath("qwen", name);
        var json = Json(new() { Model = dir, PromptIds = "5,17,33,60", MaxNewTokens = 12, Greedy = greedy, TopP = 0.9f, Temperature = 0.7f, Seed = seed, Json = true });
        AssertSameAsLibrary(json, QwenModel.FromPretrained(dir), [5, 17, 33, 60], new SamplingOptions { Greedy = greedy, TopP = 0.9f, Temperature = 0.7f, Seed = seed }, 12);
    }

    [Fact]
    public void TernaryModelsStillRunOnTheTrainingModel()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"bitdistill-generate-ternary-{Guid.NewGuid():N}");
        try
        {
            var ternary = Refiner.Refine(QwenModel.FromPretrained(FixturePath("qwen", "qwen3-tied")), new BitNetConfig { SubLn = SubLnPlacement.Paper });
            ternary.SavePretrained(dir);
            var refused = Assert.Throws<RuntimeModelException>(() => RuntimeModel.Load(dir));
            Assert.Contains("'bitnet'", refused.Message);
            var json = Json(new() { Model = dir, PromptIds = "5,17,33", MaxNewTokens = 8, Greedy = true, Json = true });
            AssertSameAsLibrary(json, QwenModel.FromPretrained(dir), [5, 17, 33], new SamplingOptions { Greedy = true }, 8);
            // the half KV cache is the runtime's: asking for it here is a one-line error, not a silent Float32 run
            var e = new StringWriter();
            Assert.Equal(2, GenerateCommand.Run(new() { Model = dir, PromptIds = "5,17,33", MaxNewTokens = 8, Greedy = true, Json = true, KvCache = "fp16" }, new StringWriter(), e));
            Assert.Contains("--kv-cache fp16 is an option of the inference runtime", e.ToString());
            Assert.Single(e.ToString().Trim().Split('\n'));
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void AHalfKvCacheGeneratesOnTheRuntimeAndABadOneIsAOneLineError()
    {
        // the shipped base model: greedy continuation of a prompt with both caches (the same tokens; see KvCacheTests)
        string dir = Path.Combine(AppContext.BaseDirectory, "data", "models", "base");
        var full = Json(new() { Model = dir, Prompt = "It is a truth universally acknowledged, that a single man in possession", MaxNewTokens = 16, Greedy = true, Json = true });
        var half = Json(new() { Model = dir, Prompt = "It is a truth universally acknowledged, that a single man in possession", MaxNewTokens = 16, Greedy = true, Json = true, KvCache = "fp16" });
        Assert.Equal(full.GetProperty("generated_ids").EnumerateArray().Select(x => x.GetInt32()), half.GetProperty("generated_ids").EnumerateArray().Select(x => x.GetInt32()));
        var e = new StringWriter();
        Assert.Equal(2, GenerateCommand.Run(new() { Model = dir, PromptIds = "5,17", Json = true, KvCache = "int4" }, new StringWriter(), e));
        Assert.Equal("bitdistill generate: --kv-cache: 'int4' is not fp32 or fp16", e.ToString().Trim());
    }
}
