using BitDistill.Autograd;
using BitDistill.Distill.Objectives;
using BitDistill.Kernels;
using BitDistill.Models.Qwen;
using BitDistill.Tensors;

namespace BitDistill.Tests.Models;

/// <summary>A whole training step (forward, backward, AdamW) gives bitwise-identical weights run after run at a given
/// degree of parallelism, so a resumed run can end exactly where an uninterrupted one does.</summary>
public class DeterminismTests
{
    private static float[] Run(int dop)
    {
        using var _ = KernelContext.Override(degreeOfParallelism: dop);
        var cfg = QwenConfig.Parse("""
            {"model_type": "qwen3", "vocab_size": 301, "hidden_size": 96, "intermediate_size": 160, "num_hidden_layers": 2,
             "num_attention_heads": 6, "num_key_value_heads": 2, "head_dim": 16, "rms_norm_eps": 1e-6, "rope_theta": 10000,
             "tie_word_embeddings": false, "max_position_embeddings": 128, "hidden_act": "silu"}
            """);
        var model = new QwenModel(cfg, new Generator(4));
        var opt = new AdamW(model.Parameters(), lr: 1e-3f);
        var ids = Tensor.FromArray(Enumerable.Range(0, 3 * 41).Select(i => (long)(i * 37 % 301)).ToArray(), [3, 41]);
        for (int s = 0; s < 2; s++)
        {
            using var scope = TensorScope.Begin();
            opt.ZeroGrad();
            CausalLmObjective.Loss(model, ids).Backward();
            opt.Step();
        }
        return model.NamedParameters().SelectMany(p => p.Param.Value.ToArray<float>()).ToArray();
    }

    [Fact]
    public void TrainingStepsAreBitwiseReproducible()
    {
        Assert.True(Run(2).SequenceEqual(Run(2)), "two runs at 2 threads differ");
        Assert.True(Run(1).SequenceEqual(Run(1)), "two runs at 1 thread differ");
    }
}
