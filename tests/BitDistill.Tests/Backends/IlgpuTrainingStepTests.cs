using BitDistill.Autograd;
using BitDistill.Distill.Objectives;
using BitDistill.Models;
using BitDistill.Models.BitNet;
using BitDistill.Models.Qwen;
using BitDistill.Tensors;

namespace BitDistill.Tests.Backends;

/// <summary>A whole training step of a tiny Qwen3 model (forward, cross-entropy, backward, clipping, AdamW), full precision
/// and as a BitNet student (BitLinear with SubLN: absmean ternary weights, INT8 activations, the W2A8 product), on ILGPU's
/// CPU emulator lands where the CPU backend's does.</summary>
public class IlgpuTrainingStepTests
{
    private static (float loss, float[] weights) Step(Device device, bool ternary = false)
    {
        var cfg = QwenConfig.Parse("""
            {"model_type": "qwen3", "vocab_size": 37, "hidden_size": 16, "intermediate_size": 24, "num_hidden_layers": 1,
             "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 8, "rms_norm_eps": 1e-6, "rope_theta": 10000,
             "tie_word_embeddings": false, "max_position_embeddings": 32, "hidden_act": "silu"}
            """);
        using var _ = Device.UseDefault(device);
        CausalLanguageModel model = new QwenModel(cfg, new Generator(4));
        if (ternary) model = Refiner.Refine(model, new BitNetConfig { SubLn = SubLnPlacement.Paper });
        Assert.All(model.Parameters(), p => Assert.Equal(device, p.Value.Device));
        var opt = new AdamW(model.Parameters(), lr: 1e-2f);
        var ids = Tensor.FromArray(Enumerable.Range(0, 2 * 7).Select(i => (long)(i * 11 % 37)).ToArray(), [2, 7], device);
        opt.ZeroGrad();
        var loss = CausalLmObjective.Loss(model, ids);
        loss.Backward();
        Optimizer.ClipGradNorm(model.Parameters(), 0.5);
        opt.Step();
        return (loss.Value.Item(), model.NamedParameters().SelectMany(p => p.Param.Value.ToArray<float>()).ToArray());
    }

    [Fact]
    public void OneFpTrainingStepMatchesTheCpuBackend()
    {
        var (cpuLoss, cpuWeights) = Step(Device.Cpu);
        var (gpuLoss, gpuWeights) = Step(IlgpuTestDevice.Device);
        Assert.Equal(cpuLoss, gpuLoss, 4);
        Assert.True(TestUtil.RelErr(gpuWeights, cpuWeights) < 1e-4, $"weights after one step differ by {TestUtil.RelErr(gpuWeights, cpuWeights):E2}");
    }

    [Fact]
    public void OneTernaryStudentTrainingStepMatchesTheCpuBackend()
    {
        var (cpuLoss, cpuWeights) = Step(Device.Cpu, ternary: true);
        var (gpuLoss, gpuWeights) = Step(IlgpuTestDevice.Device, ternary: true);
        Assert.Equal(cpuLoss, gpuLoss, 3);
        Assert.True(TestUtil.RelErr(gpuWeights, cpuWeights) < 1e-3, $"weights after one step differ by {TestUtil.RelErr(gpuWeights, cpuWeights):E2}");
    }
}
