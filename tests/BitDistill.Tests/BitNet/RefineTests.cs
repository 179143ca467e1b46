using BitDistill.Models;
using BitDistill.Models.BitNet;
using BitDistill.Models.Qwen;
using BitDistill.Tensors;

namespace BitDistill.Tests.BitNet;

/// <summary>Stage 1: structure and names of the refined model, equality with the FP model before quantisation, and the
/// Hugging Face round trip of a ternary model.</summary>
public class RefineTests
{
    private static QwenModel Tiny() => new(QwenConfig.Parse("""
        {"model_type": "qwen3", "vocab_size": 61, "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2,
         "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 12, "rms_norm_eps": 1e-6, "rope_theta": 10000,
         "tie_word_embeddings": true, "max_position_embeddings": 128, "hidden_act": "silu"}
        """), new Generator(5));

    [Fact]
    public void PaperPlacementNamesAndStructure()
    {
        var fp = Tiny();
        var student = Refiner.Refine(fp, new BitNetConfig { SubLn = SubLnPlacement.Paper });
        var names = student.NamedParameters().Select(p => p.Name).ToArray();
        Assert.Contains("model.layers.0.self_attn.attn_sub_norm.weight", names);
        Assert.Contains("model.layers.1.mlp.ffn_sub_norm.weight", names);
        Assert.DoesNotContain(names, n => n.Contains(".sub_norm."));
        Assert.Equal(2 * 7, Refiner.BitLinears(student).Count());
        Assert.DoesNotContain(Refiner.BitLinears(student), b => b.Name.Contains("lm_head") || b.Name.Contains("embed"));
        Assert.Equal(ModelRegistry.ParameterShapes(student.Config).Select(s => s.Name).Order(), student.StateDict().Keys.Order());
        // the FP model is untouched and shares no storage
        Assert.DoesNotContain(fp.NamedModules(), m => m.Module is BitLinear);
        Assert.NotSame(fp.Model.EmbedTokens.Weight.Value.Storage, student.Model.EmbedTokens.Weight.Value.Storage);
        Assert.Equal(fp.NamedParameters().Count() + 4, student.NamedParameters().Count());
    }

    [Fact]
    public void AllPlacementGivesEveryProjectionItsOwnNorm()
    {
        var student = Refiner.Refine(Tiny(), new BitNetConfig { SubLn = SubLnPlacement.All, WeightScale = BitDistill.Models.BitNet.WeightScaleMode.PerChannel });
        var norms = student.NamedParameters().Select(p => p.Name).Where(n => n.EndsWith("sub_norm.weight")).ToArray();
        Assert.Equal(2 * 7, norms.Length);
        Assert.Contains("model.layers.0.mlp.down_proj.sub_norm.weight", norms);
        Assert.Equal(ModelRegistry.ParameterShapes(student.Config).Select(s => s.Name).Order(), student.StateDict().Keys.Order());
    }

    [Fact]
    public void WithoutQuantisationTheRefinedModelWithoutSubLnIsTheFpModel()
    {
        var fp = Tiny();
        var student = Refiner.Refine(fp, new BitNetConfig { SubLn = SubLnPlacement.None });
        Refiner.SetQuantizationStrength(student, 0f);
        var ids = Tensor.FromArray(new long[] { 1, 5, 9, 3, 7, 2 }, [1, 6]);
        TestUtil.AssertClose(student.Forward(ids).Value, fp.Forward(ids).Value, 1e-5, "λ = 0");
        Refiner.SetQuantizationStrength(student, 1f);
        var q = student.Forward(ids).Value;
        Assert.True(TestUtil.RelErr(q.ToArray<float>(), fp.Forward(ids).Value.ToArray<float>()) > 1e-3, "quantisation changes the output");
    }

    [Fact]
    public void TernaryModelRoundTripsThroughHuggingFaceLayout()
    {
        var dir = Directory.CreateTempSubdirectory("bitdistill-refine").FullName;
        try
        {
            var student = Refiner.Refine(Tiny(), new BitNetConfig { SubLn = SubLnPlacement.Paper });
            Assert.Contains(student.Model.Layers[0].SelfAttn.Children(), c => c.Name == "attn_sub_norm"); // inserted by the transformation
            student.SavePretrained(dir);
            var cfg = File.ReadAllText(Path.Combine(dir, "config.json"));
            Assert.Contains("\"bitnet\"", cfg); Assert.Contains("\"subln\": \"paper\"", cfg.Replace("\"subln\":\"paper\"", "\"subln\": \"paper\""));
            var back = QwenModel.FromPretrained(dir);
            Assert.Equal(14, Refiner.BitLinears(back).Count());
            var ids = Tensor.FromArray(new long[] { 4, 8, 15, 16, 23, 42 }, [1, 6]);
            Assert.Equal(student.Forward(ids).Value.ToArray<float>(), back.Forward(ids).Value.ToArray<float>());
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void BadBitNetConfigNamesTheField()
    {
        var cfg = Tiny().Config.With("bitnet", System.Text.Json.Nodes.JsonNode.Parse("""{"subln": "sideways"}"""));
        var ex = Assert.Throws<BitDistill.Models.ModelConfigException>(() => ModelRegistry.Create(cfg));
        Assert.Contains("bitnet.subln", ex.Message);
    }

    [Fact]
    public void DiagnosticsCoverEveryLayer()
    {
        var student = Refiner.Refine(Tiny(), new BitNetConfig());
        var stats = TernaryDiagnostics.Snapshot(student);
        Assert.Equal(14, stats.Count);
        Assert.All(stats, s => { Assert.Equal(1.0, s.Minus + s.Zero + s.Plus, 9); Assert.Single(s.Scales); Assert.Equal(0, s.FlipRate); });
    }
}
