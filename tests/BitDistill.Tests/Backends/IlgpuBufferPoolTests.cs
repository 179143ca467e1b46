using BitDistill.Autograd;
using BitDistill.Backends.Ilgpu;
using BitDistill.Distill.Objectives;
using BitDistill.Models.Qwen;
using BitDistill.Tensors;

namespace BitDistill.Tests.Backends;

/// <summary>Device memory inside a <see cref="TensorScope"/> comes from the backend's pool and goes back when the scope
/// ends: a third identical training step allocates no new device buffer and lands where the CPU backend's steps do;
/// a tensor read after its scope ended is an error, and <see cref="TensorScope.Keep"/> keeps one.</summary>
[Collection(SerialCollection.Name)]
public class IlgpuBufferPoolTests
{
    private static float[] ThreeSteps(Device device, bool scoped, Action<int>? afterStep = null)
    {
        var cfg = QwenConfig.Parse("""
            {"model_type": "qwen3", "vocab_size": 301, "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 1,
             "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 32, "rms_norm_eps": 1e-6, "rope_theta": 10000,
             "tie_word_embeddings": false, "max_position_embeddings": 32, "hidden_act": "silu"}
            """);
        using var _ = Device.UseDefault(device);
        var model = new QwenModel(cfg, new Generator(4));
        var opt = new AdamW(model.Parameters(), lr: 1e-2f);
        var ids = Tensor.FromArray(Enumerable.Range(0, 2 * 16).Select(i => (long)(i * 11 % 301)).ToArray(), [2, 16], device);
        for (int step = 0; step < 3; step++)
        {
            using var scope = scoped ? TensorScope.Begin() : null;
            opt.ZeroGrad();
            CausalLmObjective.Loss(model, ids).Backward();
            opt.Step();
            scope?.Dispose();
            afterStep?.Invoke(step);
        }
        return model.NamedParameters().SelectMany(p => p.Param.Value.ToArray<float>()).ToArray();
    }

    [Fact]
    public void ScopedStepsStopAllocatingDeviceMemoryAndMatchUnscopedSteps()
    {
        var device = IlgpuTestDevice.Device;
        var pool = ((IlgpuBackend)device.Backend).Pool;
        var fresh = new long[3];
        var scoped = ThreeSteps(device, scoped: true, step => fresh[step] = pool.FreshAllocations);
        Assert.True(pool.PooledBytes > 0, "the steps' buffers went back to the pool");
        // the first step fills the pool, the second allocates what the first kept (optimizer state, gradients), the third nothing
        Assert.True(fresh[1] - fresh[0] < fresh[0] / 4, $"fresh buffers after each step: {string.Join(", ", fresh)}");
        Assert.Equal(fresh[1], fresh[2]);
        // reused buffers that were not overwritten would show as large differences from the CPU backend's steps
        double err = TestUtil.RelErr(scoped, ThreeSteps(Device.Cpu, scoped: true));
        Assert.True(err < 1e-4, $"weights after three scoped steps differ from the CPU's by {err:E2}");
    }

    [Fact]
    public void ATensorReadAfterItsScopeEndedIsAnErrorUnlessKept()
    {
        var device = IlgpuTestDevice.Device;
        Tensor gone, kept;
        using (var scope = TensorScope.Begin())
        {
            gone = Tensor.Ones(64, 64).To(device) * 2f;
            kept = gone + 1f;
            scope.Keep(kept);
        }
        Assert.Throws<ObjectDisposedException>(() => gone.ToArray<float>());
        Assert.All(kept.ToArray<float>(), v => Assert.Equal(3f, v));
    }
}
