using BitDistill.Autograd;
using BitDistill.Models;
using BitDistill.Models.BitNet;
using BitDistill.Models.Qwen;
using BitDistill.Tensors;

namespace BitDistill.Tests.Models;

/// <summary>The causal-LM contract: the model_type registry, expected shapes from a model built on the meta device (no
/// weights allocated), and BitNet as a transformation of any model of the contract.</summary>
public class ModelContractTests
{
    private static QwenConfig Tiny(bool tied = true, string type = "qwen3") => QwenConfig.Parse($$"""
        {"model_type": "{{type}}", "vocab_size": 61, "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2,
         "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 12, "rms_norm_eps": 1e-6, "rope_theta": 10000,
         "tie_word_embeddings": {{(tied ? "true" : "false")}}, "max_position_embeddings": 128, "hidden_act": "silu"}
        """);

    [Fact]
    public void RegistryBuildsTheFamilyOfTheModelType()
    {
        Assert.Contains("qwen3", ModelRegistry.ModelTypes);
        Assert.Contains("qwen2", ModelRegistry.ModelTypes);
        Assert.IsType<QwenModel>(ModelRegistry.Create(Tiny(type: "qwen2"), new Generator(1)));
        var o = Tiny().ToJsonObject(); o["model_type"] = "llama-of-doom";
        var e = Assert.Throws<ModelConfigException>(() => ModelRegistry.ParseConfig(o, "x/config.json"));
        Assert.Contains("model_type", e.Message); Assert.Contains("x/config.json", e.Message); Assert.Contains("qwen3", e.Message);
    }

    [Fact]
    public void ShapesOfAFullSizeModelNeedNoWeights()
    {
        var config = QwenConfig.Load(TestUtil.FixturePath("configs", "qwen3-0.6b.config.json"));
        long before = GC.GetAllocatedBytesForCurrentThread();
        var shapes = ModelRegistry.ParameterShapes(config);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(596_049_920L, shapes.Sum(s => s.Shape.Aggregate(1L, (a, b) => a * b)));
        // 2.4 GB of float32 weights would be allocated by a real build; the meta build allocates bookkeeping only
        Assert.True(allocated < 64L << 20, $"meta build allocated {allocated / 1e6:F1} MB");
    }

    [Theory]
    [InlineData("qwen3-0.6b.config.json")]
    [InlineData("qwen2.5-0.5b.config.json")]
    public void TheConfigsParameterCountMatchesTheBuiltModel(string file)
    {
        var config = QwenConfig.Load(TestUtil.FixturePath("configs", file));
        Assert.Equal(ModelRegistry.ParameterShapes(config).Sum(s => s.Shape.Aggregate(1L, (a, b) => a * b)), config.ParameterCount);
        foreach (var tied in new[] { true, false })
        {
            var small = Tiny(tied, "qwen2");
            Assert.Equal(ModelRegistry.ParameterShapes(small).Sum(s => s.Shape.Aggregate(1L, (a, b) => a * b)), small.ParameterCount);
        }
    }

    [Theory]
    [InlineData("\"num_hidden_layers\": 2", "\"num_hidden_layers\": 1000000", "num_hidden_layers")]
    [InlineData("\"vocab_size\": 61", "\"vocab_size\": 2000000000", "vocab_size")]
    [InlineData("\"head_dim\": 12", "\"head_dim\": 1073741824", "head_dim")]
    public void AbsurdSizesAreRefusedBeforeAnythingIsAllocated(string from, string to, string field)
    {
        var json = Tiny().ToJsonObject().ToJsonString().Replace(from.Replace(" ", ""), to.Replace(" ", ""));
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<ModelConfigException>(() => ModelRegistry.Create(QwenConfig.Parse(json, "big/config.json")));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 16 << 20);
        Assert.Contains("big/config.json", e.Message);
        Assert.True(e.Message.Contains(field, StringComparison.Ordinal) || e.Message.Contains("parameters", StringComparison.Ordinal), e.Message);
    }

    [Fact]
    public void MetaTensorsRefuseToCompute()
    {
        using var _ = Device.UseDefault(Device.Meta);
        var t = Tensor.Zeros(3, 4);
        Assert.Equal(Device.Meta, t.Device);
        Assert.Throws<NotSupportedException>(() => t.ToArray<float>());
        Assert.Throws<NotSupportedException>(() => t + t);
    }

    [Fact]
    public void DefaultDeviceScopeIsPerThread()
    {
        using (Device.UseDefault(Device.Reference))
        {
            Assert.Equal(Device.Reference, Tensor.Zeros(2).Device);
            Device? other = null;
            var th = new Thread(() => other = Tensor.Zeros(2).Device);
            th.Start(); th.Join();
            Assert.Equal(Device.Cpu, other);
        }
        Assert.Equal(Device.Cpu, Tensor.Zeros(2).Device);
    }

    [Theory]
    [InlineData(SubLnPlacement.Paper, true)]
    [InlineData(SubLnPlacement.All, false)]
    [InlineData(SubLnPlacement.None, false)]
    public void TransformationKeepsTheFunctionAtZeroQuantisationAndTheOrderOfABuiltModel(SubLnPlacement placement, bool tied)
    {
        var fp = (QwenModel)ModelRegistry.Create(Tiny(tied), new Generator(3));
        var student = Refiner.Refine(fp, new BitNetConfig { SubLn = placement });
        // the names and their order are those of a model built from the ternary config (what a checkpoint holds)
        Assert.Equal(ModelRegistry.ParameterShapes(student.Config).Select(s => s.Name), student.NamedParameters().Select(p => p.Name).Concat(student.NamedBuffers().Select(b => b.Name)));
        Assert.Equal(2 * 7, Refiner.BitLinears(student).Count()); // q, k, v, o, gate, up, down per layer; lm_head stays FP
        Assert.DoesNotContain(Refiner.BitLinears(student), b => b.Name == "lm_head");
        // without SubLN and at λ = 0 (no quantisation) the transformed model must compute exactly what the FP model does
        if (placement == SubLnPlacement.None)
        {
            Refiner.SetQuantizationStrength(student, 0);
            var ids = Tensor.FromArray(new long[] { 1, 5, 9, 33, 60 }, [1, 5]);
            using (GradMode.NoGrad())
                TestUtil.AssertClose(student.Forward(ids).Value, fp.Forward(ids).Value, 1e-5, "λ = 0 equals the FP model");
        }
        Assert.Throws<InvalidOperationException>(() => BitNetTransform.Apply(student, new BitNetConfig()));
    }
}
