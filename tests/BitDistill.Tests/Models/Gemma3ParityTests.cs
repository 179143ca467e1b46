using BitDistill.Autograd;
using BitDistill.Distill.Objectives;
using BitDistill.Models;
using BitDistill.Models.Gemma3;
using BitDistill.Tensors;
using BitDistill.Tensors.SafeTensors;
using Xunit.Abstractions;
using static BitDistill.Tests.TestUtil;

namespace BitDistill.Tests.Models;

/// <summary>Parity of the Gemma 3 models with an independent float64 PyTorch implementation (tests/fixtures/make_gemma3_fixtures.py):
/// BF16 checkpoints in the Hugging Face layout with sliding-window layers whose window is shorter than the prompt, GQA with 1 and
/// 2 KV heads, query_pre_attn_scalar ≠ head_dim and soft-capping: logits, the shifted cross-entropy and every gradient.</summary>
public sealed class Gemma3ParityTests(ITestOutputHelper output)
{
    public static TheoryData<string, string> Cases() => new()
    {
        { "gemma3-text-kv1", "nomask" }, { "gemma3-text-kv1", "mask" },
        { "gemma3-mm-kv2", "nomask" }, { "gemma3-mm-kv2", "mask" },
    };

    static Gemma3Model Load(string name) => (Gemma3Model)ModelRegistry.FromPretrained(FixturePath("gemma3", name));

    [Theory]
    [MemberData(nameof(Cases))]
    public void LogitsLossAndEveryGradientMatchPyTorch(string name, string variant)
    {
        var model = Load(name);
        using var reference = SafeTensorsFile.Open(FixturePath("gemma3", name, "reference.safetensors"));
        var ids = reference.Load($"{variant}/input_ids");
        var mask = variant == "mask" ? reference.Load($"{variant}/attention_mask") : null;
        var labels = reference.Load($"{variant}/labels");

        var logits = model.Forward(ids, mask);
        double logitsErr = RelErr(logits.Value.ToFloatArray(), reference.Load($"{variant}/logits").ToFloatArray());
        var loss = CausalLmObjective.FromLogits(logits, labels);
        double refLoss = reference.Load($"{variant}/loss").Item();
        double lossErr = Math.Abs(loss.Item() - refLoss) / Math.Abs(refLoss);
        loss.Backward();

        double worstGrad = 0; string worstName = "";
        int count = 0;
        foreach (var (pname, p) in model.NamedParameters())
        {
            Assert.NotNull(p.Grad);
            double e = RelErr(p.Grad!.ToFloatArray(), reference.Load($"{variant}/grad/{pname}").ToFloatArray());
            Assert.True(e <= 1e-4, $"{name}/{variant}: gradient of {pname}: relative error {e:E3}");
            if (e > worstGrad) { worstGrad = e; worstName = pname; }
            count++;
        }
        Assert.Equal(reference.Names.Count(n => n.StartsWith($"{variant}/grad/", StringComparison.Ordinal)), count);
        output.WriteLine($"{name}/{variant}: logits {logitsErr:E2}, loss {lossErr:E2}, worst of {count} gradients {worstGrad:E2} ({worstName})");
        Assert.True(logitsErr <= 1e-4, $"logits relative error {logitsErr:E3}");
        Assert.True(lossErr <= 1e-4, $"loss relative error {lossErr:E3}");
    }

    [Theory]
    [InlineData("gemma3-text-kv1")]
    [InlineData("gemma3-mm-kv2")]
    public void CachedDecodingMatchesTheFullForwardAcrossTheSlidingWindow(string name)
    {
        var model = Load(name);
        using var reference = SafeTensorsFile.Open(FixturePath("gemma3", name, "reference.safetensors"));
        using var _ = GradMode.NoGrad();
        foreach (var variant in new[] { "nomask", "mask" })
        {
            var ids = reference.Load($"{variant}/input_ids");
            var mask = variant == "mask" ? reference.Load($"{variant}/attention_mask") : null;
            var full = model.Forward(ids, mask).Value;
            // a 5-token prefill (longer than the window) and then one token at a time, each step reading only the window
            var cache = model.CreateCache();
            var parts = new List<Tensor> { model.Forward(ids.Narrow(1, 0, 5).Contiguous(), mask?.Narrow(1, 0, 5).Contiguous(), null, cache).Value };
            for (int t = 5; t < 9; t++)
                parts.Add(model.Forward(ids.Narrow(1, t, 1).Contiguous(), mask?.Narrow(1, 0, t + 1).Contiguous(), null, cache).Value);
            Assert.Equal(9, cache.Length);
            // the sliding-window layers dropped what no later query can see and stayed within 2·window (or one prefill)
            for (int i = 0; i < cache.Layers.Count; i++)
            {
                var attn = model.Model.Layers[i].SelfAttn;
                if (!attn.IsSliding) { Assert.Equal(0, cache.Layers[i].Dropped); continue; }
                Assert.True(cache.Layers[i].Dropped > 0, $"layer {i} dropped nothing");
                Assert.True(cache.Layers[i].Capacity <= Math.Max(2 * attn.Window, 5), $"layer {i} holds {cache.Layers[i].Capacity} positions");
            }
            for (int t = 0, k = 0; k < parts.Count; t += parts[k].Shape[1], k++)
                AssertClose(parts[k], full.Narrow(1, t, parts[k].Shape[1]).Contiguous(), 1e-5, $"{name}/{variant} step {k}");
        }
    }

    [Fact]
    public void TheEmbeddingScaleIsRoundedToTheCheckpointDtypeAsHuggingFaceDoes()
    {
        var mm = Load("gemma3-mm-kv2");
        Assert.Equal(6.3125f, mm.Model.EmbedScale); // bf16(√40 = 6.3246)
        var fp32 = (Gemma3Config)mm.Config.WithField("torch_dtype", System.Text.Json.Nodes.JsonValue.Create("float32"));
        Assert.Equal(MathF.Sqrt(40), fp32.EmbedScale);
        Assert.Equal([true, false, true], mm.Config.LayerTypes);
        Assert.True(mm.Config.IsMultimodal);
        Assert.StartsWith("language_model.model.", mm.NamedParameters().First().Name);
        Assert.Null(mm.LmHeadName);
        Assert.Equal([1, 6], mm.Config.EosTokenIds);
        var text = Load("gemma3-text-kv1");
        Assert.Equal([true, false, true, false], text.Config.LayerTypes);
        Assert.Equal(2.0, text.Config.RopeScalingFactor);
        Assert.False(text.HeadIsPlainLinear); // final soft-capping
        Assert.True(mm.HeadIsPlainLinear);
    }

    [Fact]
    public void Gemma3OneBConfigParsesWithItsKnownParameterCountAndLayerPattern()
    {
        var c = (Gemma3Config)ModelRegistry.LoadConfig(Path.Combine(AppContext.BaseDirectory, "Fixtures", "configs", "gemma3-1b.config.json"));
        Assert.Equal(999_885_952, c.ParameterCount);
        Assert.Equal(c.ParameterCount, ModelRegistry.ParameterShapes(c).Sum(s => s.Shape.Aggregate(1L, (a, x) => a * x)));
        Assert.Equal([5, 11, 17, 23], Enumerable.Range(0, 26).Where(i => !c.LayerTypes[i]).ToArray());
        Assert.Equal(512, c.SlidingWindow);
        Assert.Equal(34f, c.EmbedScale); // bf16(√1152 = 33.94)
        Assert.Equal(0.0625, Math.Pow(c.QueryPreAttnScalar, -0.5));
    }

    [Theory]
    [InlineData("\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 8}", "rope_scaling")]
    [InlineData("\"layer_types\": [\"sliding_attention\"]", "layer_types")]
    [InlineData("\"layer_types\": [\"sliding_attention\", \"chunked_attention\"]", "layer_types[1]")]
    [InlineData("\"hidden_activation\": \"relu\"", "hidden_activation")]
    [InlineData("\"query_pre_attn_scalar\": 0", "query_pre_attn_scalar")]
    [InlineData("\"attention_bias\": true", "attention_bias")]
    [InlineData("\"eos_token_id\": -1", "eos_token_id")]
    [InlineData("\"max_position_embeddings\": -5", "max_position_embeddings")]
    public void UnsupportedSettingsAreRefusedNamingTheField(string field, string name)
    {
        string json = "{\"model_type\": \"gemma3_text\", \"num_hidden_layers\": 2, \"hidden_size\": 8, \"vocab_size\": 10, " + field + "}";
        var e = Assert.Throws<ModelConfigException>(() => ModelRegistry.ParseConfig((System.Text.Json.Nodes.JsonObject)System.Text.Json.Nodes.JsonNode.Parse(json)!, "x.json"));
        Assert.Contains(name, e.Message);
        var mm = "{\"model_type\": \"gemma3\", \"text_config\": {\"num_hidden_layers\": 2, \"hidden_size\": 8, \"vocab_size\": 10, " + field + "}}";
        e = Assert.Throws<ModelConfigException>(() => ModelRegistry.ParseConfig((System.Text.Json.Nodes.JsonObject)System.Text.Json.Nodes.JsonNode.Parse(mm)!, "y.json"));
        Assert.Contains("text_config." + name, e.Message);
    }

    [Fact]
    public void ExplicitWindowedAttentionEqualsTheFusedKernelWhenTheWindowCoversEverything()
    {
        var gen = new Generator(5);
        var q = new Variable(Tensor.Normal([2, 4, 7, 6], gen, 0, 1));
        var k = new Variable(Tensor.Normal([2, 2, 7, 6], gen, 0, 1));
        var v = new Variable(Tensor.Normal([2, 2, 7, 6], gen, 0, 1));
        var mask = Tensor.FromArray(new float[] { 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1 }, [2, 7]);
        var fused = F.Attention(q, k, v, causal: true, keyPaddingMask: mask, scale: 0.3f).Value;
        var explicitOut = Gemma3Attention.ExplicitAttention(q, k, v, mask, int.MaxValue, null, 0.3f).Value;
        AssertClose(explicitOut, fused, 1e-5, "explicit vs fused attention");
    }

    [Fact]
    public void InspectReportsTheOneBParameterCountAndTheLayerPattern()
    {
        var w = new StringWriter();
        BitDistill.Cli.InspectCommand.Inspect(FixturePath("configs", "gemma3-1b.config.json"), w);
        string text = w.ToString();
        Assert.Contains("999,885,952", text);
        Assert.Contains("22 sliding-window (window 512", text);
        Assert.Contains("4 global", text);
        Assert.Contains("embed scale   34 ", text);
        w = new StringWriter();
        BitDistill.Cli.InspectCommand.Inspect(FixturePath("gemma3", "gemma3-mm-kv2"), w);
        Assert.Contains("matches config.json", w.ToString());
    }

    [Fact]
    public void PerLayerKindRopeParametersOfNewerConfigsAreRead()
    {
        string json = """
            {"model_type": "gemma3_text", "num_hidden_layers": 2, "hidden_size": 8, "vocab_size": 10,
             "rope_parameters": {"full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 500000.0},
                                 "sliding_attention": {"rope_type": "default", "rope_theta": 20000.0}}}
            """;
        var c = (Gemma3Config)ModelRegistry.ParseConfig((System.Text.Json.Nodes.JsonObject)System.Text.Json.Nodes.JsonNode.Parse(json)!, "x.json");
        Assert.Equal(500000.0, c.RopeTheta);
        Assert.Equal(8.0, c.RopeScalingFactor);
        Assert.Equal(20000.0, c.RopeLocalBaseFreq);
        var bad = json.Replace("\"rope_type\": \"default\", \"rope_theta\": 20000.0", "\"rope_type\": \"yarn\", \"factor\": 2.0");
        var e = Assert.Throws<ModelConfigException>(() => ModelRegistry.ParseConfig((System.Text.Json.Nodes.JsonObject)System.Text.Json.Nodes.JsonNode.Parse(bad)!, "x.json"));
        Assert.Contains("rope_parameters.sliding_attention", e.Message);
    }
}
