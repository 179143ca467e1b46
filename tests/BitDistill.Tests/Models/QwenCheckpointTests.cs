using System.Text;
using System.Text.Json.Nodes;
using BitDistill.Models;
using BitDistill.Models.Qwen;
using BitDistill.Tensors;
using BitDistill.Tensors.SafeTensors;
using static BitDistill.Tests.TestUtil;

namespace BitDistill.Tests.Models;

/// <summary>Qwen config.json parsing, parameter shapes of the published configs, save/reload round trips and bad input.</summary>
public sealed class QwenCheckpointTests : IDisposable
{
    private readonly string _tmp = Path.Combine(Path.GetTempPath(), "bitdistill-qwen-" + Guid.NewGuid().ToString("N"));

    public QwenCheckpointTests() => Directory.CreateDirectory(_tmp);
    public void Dispose() { try { Directory.Delete(_tmp, true); } catch (IOException) { } }

    // ---- published configs: shapes and counts without allocating weights (numbers checked in Python from the same shapes)

    [Theory]
    [InlineData("qwen3-0.6b.config.json", QwenArchitecture.Qwen3, 596_049_920L, 310, 128)]
    [InlineData("qwen2.5-0.5b.config.json", QwenArchitecture.Qwen2, 494_032_768L, 290, 64)]
    public void PublishedConfigsGiveThePublishedParameterCounts(string file, QwenArchitecture arch, long total, int tensors, int headDim)
    {
        var c = QwenConfig.Load(FixturePath("configs", file));
        Assert.Equal(arch, c.Architecture);
        Assert.True(c.TieWordEmbeddings);
        Assert.Equal(headDim, c.HeadDim);
        Assert.Equal(151936, c.VocabSize);
        Assert.Equal(1_000_000.0, c.RopeTheta);
        var shapes = ModelRegistry.ParameterShapes(c);
        Assert.Equal(tensors, shapes.Count);
        Assert.Equal(total, shapes.Sum(s => s.Shape.Aggregate(1L, (a, b) => a * b)));
        Assert.DoesNotContain(shapes, s => s.Name == "lm_head.weight");
        var byName = shapes.ToDictionary(s => s.Name, s => s.Shape);
        if (arch == QwenArchitecture.Qwen3)
        {
            Assert.Equal([2048, 1024], byName["model.layers.0.self_attn.q_proj.weight"]);   // 16 heads × 128 ≠ hidden 1024
            Assert.Equal([1024, 2048], byName["model.layers.0.self_attn.o_proj.weight"]);
            Assert.Equal([1024, 1024], byName["model.layers.27.self_attn.k_proj.weight"]);
            Assert.Equal([128], byName["model.layers.5.self_attn.q_norm.weight"]);
            Assert.False(byName.ContainsKey("model.layers.0.self_attn.q_proj.bias"));
        }
        else
        {
            Assert.Equal([896], byName["model.layers.0.self_attn.q_proj.bias"]);
            Assert.Equal([128], byName["model.layers.23.self_attn.v_proj.bias"]);
            Assert.False(byName.ContainsKey("model.layers.0.self_attn.o_proj.bias"));
            Assert.False(byName.ContainsKey("model.layers.0.self_attn.q_norm.weight"));
        }
    }

    [Fact]
    public void ParameterShapesMatchABuiltModelForEachVariant()
    {
        foreach (var dir in new[] { "qwen3-tied", "qwen3-untied-bias", "qwen2-tied" })
        {
            var c = QwenConfig.Load(FixturePath("qwen", dir, "config.json"));
            var m = new QwenModel(c, new Generator(7));
            var actual = m.NamedParameters().Select(p => (p.Name, Shape: p.Param.Value.ShapeArray)).ToList();
            var expected = ModelRegistry.ParameterShapes(c);
            Assert.Equal(expected.Select(e => e.Name), actual.Select(a => a.Name));
            for (int i = 0; i < actual.Count; i++) Assert.Equal(expected[i].Shape, actual[i].Shape);
        }
    }

    [Fact]
    public void RandomInitFollowsHuggingFace()
    {
        var c = QwenConfig.Load(FixturePath("qwen", "qwen3-untied-bias", "config.json"));
        var a = new QwenModel(c, new Generator(3));
        var b = new QwenModel(c, new Generator(3));
        Assert.Equal(a.OutputWeight.Value.ToArray<float>(), b.OutputWeight.Value.ToArray<float>());
        foreach (var (n, p) in a.NamedParameters())
        {
            var v = p.Value.ToArray<float>();
            if (n.EndsWith("norm.weight", StringComparison.Ordinal)) Assert.All(v, x => Assert.Equal(1f, x));
            else if (n.EndsWith(".bias", StringComparison.Ordinal)) Assert.All(v, x => Assert.Equal(0f, x));
            else
            {
                double std = Math.Sqrt(v.Select(x => (double)x * x).Average());
                Assert.InRange(std, 0.017, 0.023);   // initializer_range 0.02
            }
        }
    }

    // ---- config.json

    [Fact]
    public void ConfigKeepsUnknownFieldsAndRewritesThemInOrder()
    {
        var path = FixturePath("qwen", "qwen3-untied-bias", "config.json");
        var c = QwenConfig.Load(path);
        Assert.True(c.AttentionBias && c.QkvBias && c.OutputProjectionBias && c.QkNorm);
        Assert.Equal(16, c.HeadDim);
        Assert.Equal("bfloat16", c.TorchDType);
        Assert.Equal([2], c.EosTokenIds);
        Assert.Equal(3, c.GetInt("max_window_layers", 0));
        Assert.Equal("[1,2,3]", c.Get("custom_field")!["kept"]!.ToJsonString());
        var extended = c.With("quantization", new JsonObject { ["weights"] = "ternary" });
        Assert.Equal("ternary", extended.Get("quantization")!["weights"]!.GetValue<string>());
        Assert.Null(c.Get("quantization"));

        var saved = Path.Combine(_tmp, "config.json");
        c.Save(saved);
        var original = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        var again = JsonNode.Parse(File.ReadAllText(saved))!.AsObject();
        Assert.Equal(original.Select(kv => kv.Key), again.Select(kv => kv.Key));
        Assert.True(JsonNode.DeepEquals(original, again));
    }

    [Fact]
    public void Qwen2HeadDimComesFromHiddenOverHeads()
    {
        var c = QwenConfig.Load(FixturePath("qwen", "qwen2-tied", "config.json"));
        Assert.Equal(QwenArchitecture.Qwen2, c.Architecture);
        Assert.Equal(12, c.HeadDim);
        Assert.True(c.QkvBias);
        Assert.False(c.OutputProjectionBias);
        Assert.False(c.QkNorm);
    }

    public static TheoryData<string, string?, string> BadConfigs() => new()
    {
        { "{\"model_type\": \"qwen3\", ", null, "not valid JSON" },
        { "[1, 2]", null, "JSON object" },
        { Edit(o => o.Remove("hidden_size")), "hidden_size", "required" },
        { Edit(o => o["hidden_size"] = "48"), "hidden_size", "expected an integer, got the string \"48\"" },
        { Edit(o => o["num_hidden_layers"] = 2.5), "num_hidden_layers", "expected an integer" },
        { Edit(o => o["tie_word_embeddings"] = 1), "tie_word_embeddings", "expected true or false" },
        { Edit(o => o["rms_norm_eps"] = "1e-6"), "rms_norm_eps", "expected a number" },
        { Edit(o => o["rope_scaling"] = new JsonObject { ["rope_type"] = "yarn", ["factor"] = 4.0 }), "rope_scaling", "expected null" },
        { Edit(o => o["model_type"] = "llama"), "model_type", "unknown model type \"llama\"" },
        { Edit(o => o.Remove("model_type")), "model_type", "required" },
        { Edit(o => o["hidden_act"] = "gelu"), "hidden_act", "expected \"silu\"" },
        { Edit(o => o["use_sliding_window"] = true), "use_sliding_window", "expected false" },
        { Edit(o => o["attention_dropout"] = 0.1), "attention_dropout", "expected 0.0" },
        { Edit(o => o["num_key_value_heads"] = 3), "num_key_value_heads", "does not divide" },
        { Edit(o => o["head_dim"] = 15), "head_dim", "even" },
        { Edit(o => o["vocab_size"] = 0), "vocab_size", "positive" },
    };

    private static string Edit(Action<JsonObject> change)
    {
        var o = JsonNode.Parse(File.ReadAllText(FixturePath("qwen", "qwen3-tied", "config.json")))!.AsObject();
        change(o);
        return o.ToJsonString();
    }

    [Theory]
    [MemberData(nameof(BadConfigs))]
    public void BadConfigErrorsNameFileAndField(string json, string? field, string expected)
    {
        var path = Path.Combine(_tmp, "config.json");
        File.WriteAllText(path, json);
        var e = Assert.Throws<ModelConfigException>(() => QwenConfig.Load(path));
        Assert.Equal(path, e.FilePath);
        Assert.Equal(field, e.Field);
        Assert.Contains(path, e.Message);
        if (field is not null) Assert.Contains($"'{field}'", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void AcceptedNoOpSettingsDoNotFail()
    {
        var c = QwenConfig.Parse(Edit(o =>
        {
            o["rope_scaling"] = new JsonObject { ["rope_type"] = "default" };
            o["sliding_window"] = 4096; o["use_sliding_window"] = false; o["eos_token_id"] = new JsonArray(2, 5);
            o["layer_types"] = new JsonArray("full_attention", "full_attention", "full_attention");
        }));
        Assert.Equal([2, 5], c.EosTokenIds);
    }

    // ---- save / reload

    [Fact]
    public void Float32SaveReloadsBitExactly()
    {
        var c = QwenConfig.Load(FixturePath("qwen", "qwen3-untied-bias", "config.json"));
        var m = new QwenModel(c, new Generator(11));
        var dir = Path.Combine(_tmp, "f32");
        m.SavePretrained(dir);
        var back = QwenModel.FromPretrained(dir);
        foreach (var ((n, p), (n2, q)) in m.NamedParameters().Zip(back.NamedParameters()))
        {
            Assert.Equal(n, n2);
            Assert.Equal(p.Value.ToArray<float>(), q.Value.ToArray<float>());
        }
        Assert.Equal("float32", back.Config.TorchDType);
        Assert.Equal("[1,2,3]", back.Config.Get("custom_field")!["kept"]!.ToJsonString());
        Assert.False(File.Exists(Path.Combine(dir, ShardedSafeTensors.IndexFileName)));
        Assert.Empty(Directory.GetFiles(dir, "*.tmp"));
    }

    [Fact]
    public void Bf16CheckpointSurvivesLoadAndSaveByteForByte()
    {
        var src = FixturePath("qwen", "qwen3-tied");
        var a = Path.Combine(_tmp, "a"); var b = Path.Combine(_tmp, "b");
        QwenModel.FromPretrained(src).SavePretrained(a, DType.BFloat16);
        QwenModel.FromPretrained(a).SavePretrained(b, DType.BFloat16);
        Assert.Equal(File.ReadAllBytes(Path.Combine(a, "model.safetensors")), File.ReadAllBytes(Path.Combine(b, "model.safetensors")));
        Assert.Equal(File.ReadAllText(Path.Combine(a, "config.json")), File.ReadAllText(Path.Combine(b, "config.json")));
        using var orig = SafeTensorsFile.Open(Path.Combine(src, "model.safetensors"));
        using var saved = SafeTensorsFile.Open(Path.Combine(a, "model.safetensors"));
        Assert.Equal(orig.Names.Order(StringComparer.Ordinal), saved.Names.Order(StringComparer.Ordinal));   // tied: no lm_head.weight
        foreach (var n in orig.Names)
        {
            Assert.Equal(DType.BFloat16, saved.Entry(n).DType);
            Assert.Equal(orig.ReadRaw(n), saved.ReadRaw(n));
        }
    }

    [Fact]
    public void ShardedSaveReloadsAndMatchesTheSingleFile()
    {
        var m = QwenModel.FromPretrained(FixturePath("qwen", "qwen2-tied"));
        var dir = Path.Combine(_tmp, "sharded");
        m.SavePretrained(dir, DType.BFloat16, maxShardBytes: 20_000);
        Assert.True(File.Exists(Path.Combine(dir, ShardedSafeTensors.IndexFileName)));
        Assert.True(Directory.GetFiles(dir, "model-*-of-*.safetensors").Length > 2);
        var back = QwenModel.FromPretrained(dir);
        foreach (var ((_, p), (_, q)) in m.NamedParameters().Zip(back.NamedParameters()))
            Assert.Equal(p.Value.ToArray<float>(), q.Value.ToArray<float>());
    }

    // ---- bad checkpoints

    /// <summary>A copy of a fixture model whose tensors were changed by <paramref name="edit"/> (written as F32).</summary>
    private string BrokenCopy(string fixture, Action<Dictionary<string, Tensor>> edit, Action<JsonObject>? config = null)
    {
        var dir = Path.Combine(_tmp, "broken-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        using (var st = SafeTensorsFile.Open(FixturePath("qwen", fixture, "model.safetensors")))
        {
            var d = st.Names.ToDictionary(n => n, n => st.Load(n));
            edit(d);
            SafeTensorsWriter.Write(Path.Combine(dir, "model.safetensors"), d);
        }
        var o = JsonNode.Parse(File.ReadAllText(FixturePath("qwen", fixture, "config.json")))!.AsObject();
        config?.Invoke(o);
        File.WriteAllText(Path.Combine(dir, "config.json"), o.ToJsonString());
        return dir;
    }

    [Fact]
    public void MissingTensorIsNamed()
    {
        var dir = BrokenCopy("qwen3-tied", d => d.Remove("model.layers.1.self_attn.k_norm.weight"));
        var e = Assert.Throws<CheckpointException>(() => QwenModel.FromPretrained(dir));
        Assert.Equal("model.layers.1.self_attn.k_norm.weight", e.TensorName);
        Assert.Contains(Path.Combine(dir, "model.safetensors"), e.Message);
        Assert.Contains("missing", e.Message);
    }

    [Fact]
    public void UntiedConfigWithoutLmHeadIsNamed()
    {
        var dir = BrokenCopy("qwen3-tied", _ => { }, o => o["tie_word_embeddings"] = false);
        var e = Assert.Throws<CheckpointException>(() => QwenModel.FromPretrained(dir));
        Assert.Equal("lm_head.weight", e.TensorName);
        Assert.Contains("tie_word_embeddings is false", e.Message);
    }

    [Fact]
    public void WrongShapeIsNamed()
    {
        var dir = BrokenCopy("qwen3-tied", d => d["model.layers.0.mlp.up_proj.weight"] = Tensor.Zeros(81, 48).To(DType.BFloat16));
        var e = Assert.Throws<CheckpointException>(() => QwenModel.FromPretrained(dir));
        Assert.Equal("model.layers.0.mlp.up_proj.weight", e.TensorName);
        Assert.Contains("[81, 48]", e.Message);
        Assert.Contains("[80, 48]", e.Message);
    }

    [Fact]
    public void VocabSizeMismatchNamesConfigAndTensor()
    {
        var dir = BrokenCopy("qwen3-tied", _ => { }, o => o["vocab_size"] = 100);
        var e = Assert.Throws<CheckpointException>(() => QwenModel.FromPretrained(dir));
        Assert.Equal("model.embed_tokens.weight", e.TensorName);
        Assert.Contains("vocab_size", e.Message);
        Assert.Contains(Path.Combine(dir, "config.json"), e.Message);
    }

    [Fact]
    public void UnexpectedTensorIsNamed()
    {
        var dir = BrokenCopy("qwen2-tied", d => d["model.layers.0.self_attn.q_norm.weight"] = Tensor.Ones(12));
        var e = Assert.Throws<CheckpointException>(() => QwenModel.FromPretrained(dir));
        Assert.Equal("model.layers.0.self_attn.q_norm.weight", e.TensorName);
        Assert.Contains("unexpected", e.Message);
    }

    [Fact]
    public void IntegerWeightIsRefused()
    {
        var dir = BrokenCopy("qwen3-tied", d => d["model.norm.weight"] = Tensor.Zeros([48], DType.Int32));
        var e = Assert.Throws<CheckpointException>(() => QwenModel.FromPretrained(dir));
        Assert.Equal("model.norm.weight", e.TensorName);
        Assert.Contains("I32", e.Message);
    }

    [Fact]
    public void UnknownDTypeInHeaderNamesTensorAndFile()
    {
        var dir = BrokenCopy("qwen3-tied", _ => { });
        var path = Path.Combine(dir, "model.safetensors");
        var bytes = File.ReadAllBytes(path);
        long n = BitConverter.ToInt64(bytes, 0);
        var header = Encoding.UTF8.GetString(bytes, 8, (int)n);
        var obj = JsonNode.Parse(header)!.AsObject();
        obj["model.norm.weight"]!["dtype"] = "F8_E9";
        var patched = Encoding.UTF8.GetBytes(obj.ToJsonString());
        Assert.True(patched.Length <= n);
        var padded = patched.Concat(Enumerable.Repeat((byte)' ', (int)n - patched.Length)).ToArray();
        Array.Copy(padded, 0, bytes, 8, n);
        File.WriteAllBytes(path, bytes);
        var e = Assert.ThrowsAny<FormatException>(() => QwenModel.FromPretrained(dir));
        Assert.Contains("model.norm.weight", e.Message);
        Assert.Contains("F8_E9", e.Message);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void MissingFolderAndConfigAreReported()
    {
        Assert.Throws<DirectoryNotFoundException>(() => QwenModel.FromPretrained(Path.Combine(_tmp, "nope")));
        var dir = Path.Combine(_tmp, "noconfig");
        Directory.CreateDirectory(dir);
        var e = Assert.Throws<ModelConfigException>(() => QwenModel.FromPretrained(dir));
        Assert.Contains("config.json", e.Message);
    }
}
