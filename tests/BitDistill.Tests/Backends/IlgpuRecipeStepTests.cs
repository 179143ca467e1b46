using BitDistill.Autograd;
using BitDistill.Distill.Objectives;
using BitDistill.Models;
using BitDistill.Models.BitNet;
using BitDistill.Models.Generation;
using BitDistill.Models.Qwen;
using BitDistill.Tensors;

namespace BitDistill.Tests.Backends;

/// <summary>Stage 3 and inference on ILGPU's CPU emulator against the CPU backend: one distillation step (the FP teacher's
/// forward, CE + λ·LD + γ·AD on a refined ternary student with SubLN, backward, AdamW) lands where the CPU's does, and
/// greedy cached generation picks the same tokens. (Stages 1–2 and FP-SFT are the causal-LM steps of
/// <see cref="IlgpuTrainingStepTests"/>.)</summary>
public class IlgpuRecipeStepTests
{
    private static QwenConfig Config(int hidden, int heads, int kvHeads, int headDim, int layers) => QwenConfig.Parse($$"""
        {"model_type": "qwen3", "vocab_size": 41, "hidden_size": {{hidden}}, "intermediate_size": 24, "num_hidden_layers": {{layers}},
         "num_attention_heads": {{heads}}, "num_key_value_heads": {{kvHeads}}, "head_dim": {{headDim}}, "rms_norm_eps": 1e-6, "rope_theta": 10000,
         "tie_word_embeddings": true, "max_position_embeddings": 32, "hidden_act": "silu"}
        """);

    private static (Dictionary<string, double> Terms, float[] Weights) DistillStep(Device device)
    {
        using var _ = Device.UseDefault(device);
        var teacher = ModelRegistry.Create(Config(16, 2, 1, 8, 2), new Generator(7));
        var student = Refiner.Refine(ModelRegistry.Create(Config(16, 2, 1, 8, 2), new Generator(8)), new BitNetConfig { SubLn = SubLnPlacement.Paper });
        Assert.All(student.Parameters(), p => Assert.Equal(device, p.Value.Device));
        const long X = CausalLmObjective.IgnoreIndex;
        var batch = new TrainingBatch(
            Tensor.FromArray(new long[] { 3, 17, 5, 40, 9, 11, 8, 1, 33, 27, 0, 0 }, [2, 6], device),
            Tensor.FromArray(new long[] { X, X, 7, 19, 2, X, X, X, 30, 4, X, X }, [2, 6], device),
            Tensor.FromArray(new float[] { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0 }, [2, 6], device));
        var objective = new DistillationObjective(teacher, new DistillationOptions { LogitsWeight = 10, AttentionWeight = 100, Temperature = 5, RelationHeads = 4 });
        var opt = new AdamW(student.Parameters(), lr: 1e-2f);
        opt.ZeroGrad();
        var r = objective.Compute(student, batch);
        r.Loss.Backward();
        Optimizer.ClipGradNorm(student.Parameters(), 1.0);
        opt.Step();
        return (r.Terms.ToDictionary(), student.NamedParameters().SelectMany(p => p.Param.Value.ToArray<float>()).ToArray());
    }

    [Fact]
    public void OneDistillationStepMatchesTheCpuBackend()
    {
        var (cpuTerms, cpuWeights) = DistillStep(Device.Cpu);
        var (gpuTerms, gpuWeights) = DistillStep(IlgpuTestDevice.Device);
        Assert.Equal(["ce", "ld", "ad"], gpuTerms.Keys);
        // KL terms are small differences of float32 log-probabilities (|log p| up to ~4 here): an absolute error of a few
        // ε·|log p| per row (measured 9e-7 on LD = 0.0077) is float rounding, not a different formula
        foreach (var (name, value) in cpuTerms)
            Assert.True(Math.Abs(gpuTerms[name] - value) <= 1e-4 * Math.Abs(value) + 3e-6, $"{name}: device {gpuTerms[name]}, CPU {value}");
        double err = TestUtil.RelErr(gpuWeights, cpuWeights);
        Assert.True(err < 1e-3, $"student weights after one step differ by {err:E2}");
    }

    [Fact]
    public void GreedyCachedGenerationOnTheDevicePicksTheCpuTokens()
    {
        int[] Generate(Device device)
        {
            using var _ = Device.UseDefault(device);
            var model = Refiner.Refine(ModelRegistry.Create(Config(16, 2, 1, 8, 2), new Generator(5)), new BitNetConfig { SubLn = SubLnPlacement.Paper });
            return new TextGenerator(model).Generate([3, 9, 27, 4], new GenerationOptions { MaxNewTokens = 8, Sampling = new SamplingOptions { Greedy = true }, StopTokenIds = [] }).GeneratedIds;
        }
        var cpu = Generate(Device.Cpu);
        Assert.Equal(8, cpu.Length);
        Assert.Equal(cpu, Generate(IlgpuTestDevice.Device));
    }
}
