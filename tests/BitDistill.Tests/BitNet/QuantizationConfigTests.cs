using System.Text.Json.Nodes;
using BitDistill.Models;
using BitDistill.Models.BitNet;
using BitDistill.Models.Qwen;
using BitDistill.Tensors;

namespace BitDistill.Tests.BitNet;

/// <summary>Ternary checkpoints declare their quantisation in config.json as Hugging Face's BitNet integration reads it
/// ("quantization_config" with quant_method "bitnet"), so tools that read the config do not take them for full precision;
/// the loader accepts its own output and refuses a quantization_config that contradicts the "bitnet" object.</summary>
public sealed class QuantizationConfigTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bitdistill-qcfg").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private static QwenModel Tiny() => new(QwenConfig.Parse("""
        {"model_type": "qwen3", "vocab_size": 61, "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2,
         "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 12, "rms_norm_eps": 1e-6, "rope_theta": 10000,
         "tie_word_embeddings": true, "max_position_embeddings": 128, "hidden_act": "silu", "eos_token_id": 1}
        """), new Generator(5));

    private string SavedTernary()
    {
        var dir = Path.Combine(_dir, "ternary");
        Refiner.Refine(Tiny(), new BitNetConfig { SubLn = SubLnPlacement.Paper, SubLnEps = 1e-8 }).SavePretrained(dir);
        return dir;
    }

    [Fact]
    public void ASavedTernaryModelDeclaresBitNetQuantizationAndLoadsBack()
    {
        var dir = SavedTernary();
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "config.json")))!.AsObject();
        var q = config["quantization_config"]!.AsObject();
        Assert.Equal("bitnet", q["quant_method"]!.GetValue<string>());
        Assert.Equal("autobitlinear", q["linear_class"]!.GetValue<string>()); // latent weights, quantised on the fly
        Assert.Equal("online", q["quantization_mode"]!.GetValue<string>());
        Assert.False(q["use_rms_norm"]!.GetValue<bool>());
        Assert.Equal(1e-8, q["rms_norm_eps"]!.GetValue<double>());
        Assert.Equal(["lm_head"], q["modules_to_not_convert"]!.AsArray().Select(n => n!.GetValue<string>()));
        Assert.NotNull(config["bitnet"]);
        Assert.NotEmpty(Refiner.BitLinears(ModelRegistry.FromPretrained(dir)));
    }

    [Fact]
    public void AFullPrecisionModelHasNoQuantizationConfig()
    {
        var dir = Path.Combine(_dir, "fp");
        Tiny().SavePretrained(dir);
        Assert.Null(JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "config.json")))!["quantization_config"]);
    }

    [Theory]
    [InlineData("quant_method", "\"gptq\"", "quantization_config.quant_method")]
    [InlineData("linear_class", "\"bitlinear\"", "quantization_config.linear_class")]
    [InlineData("quantization_mode", "\"offline\"", "quantization_config.quantization_mode")]
    [InlineData("use_rms_norm", "true", "quantization_config.use_rms_norm")]
    [InlineData("rms_norm_eps", "1e-5", "quantization_config.rms_norm_eps")]
    [InlineData("rms_norm_eps", "\"small\"", "quantization_config.rms_norm_eps")]
    [InlineData("modules_to_not_convert", "[\"lm_head\", \"model.layers.0.mlp.down_proj\"]", "quantization_config.modules_to_not_convert")]
    public void AQuantizationConfigThatContradictsTheBitNetObjectIsRefused(string field, string value, string expected)
    {
        var dir = SavedTernary();
        var path = Path.Combine(dir, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        config["quantization_config"]![field] = JsonNode.Parse(value);
        File.WriteAllText(path, config.ToJsonString());
        var e = Assert.Throws<ModelConfigException>(() => ModelRegistry.LoadConfig(path));
        Assert.Contains(expected, e.Message);
        Assert.Contains(path, e.Message);
        Assert.Throws<ModelConfigException>(() => ModelRegistry.FromPretrained(dir));
    }

    [Fact]
    public void BitNetQuantizationWithoutTheBitNetObjectIsNotLoadedAsFullPrecision()
    {
        var dir = SavedTernary();
        var path = Path.Combine(dir, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        config.Remove("bitnet");
        File.WriteAllText(path, config.ToJsonString());
        var e = Assert.Throws<ModelConfigException>(() => ModelRegistry.LoadConfig(path));
        Assert.Contains("quantization_config", e.Message);
    }

    [Fact]
    public void OurOlderOutputWithoutAQuantizationConfigStillLoads()
    {
        var dir = SavedTernary();
        var path = Path.Combine(dir, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        config.Remove("quantization_config");
        File.WriteAllText(path, config.ToJsonString());
        Assert.NotEmpty(Refiner.BitLinears(ModelRegistry.FromPretrained(dir)));
    }
}
