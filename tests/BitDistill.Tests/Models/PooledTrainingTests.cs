using BitDistill.Autograd;
using BitDistill.Distill.Objectives;
using BitDistill.Kernels;
using BitDistill.Models.Qwen;
using BitDistill.Tensors;

namespace BitDistill.Tests;

/// <summary>Ops write into pool buffers that are not cleared first; with reused buffers poisoned (NaN), Qwen3 training steps
/// inside TensorScopes (with and without padding) give bitwise the same losses and weights as with clean buffers, so every
/// such op overwrites its whole output.</summary>
// Serial: sets the process-wide TensorScope.PoisonUninitialized.
[Collection(SerialCollection.Name)]
public class PooledTrainingTests
{
    private const string Config = """
        {"model_type": "qwen3", "vocab_size": 300, "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
         "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "tie_word_embeddings": true}
        """;

    private static (float[] losses, float[] weights) Train(bool poison, bool withMask)
    {
        var model = new QwenModel(QwenConfig.Parse(Config), new Generator(5));
        var opt = new AdamW(model.Parameters(), lr: 1e-3f);
        var ids = Tensor.FromArray(Enumerable.Range(0, 2 * 70).Select(i => (long)(i * 37 % 300)).ToArray(), [2, 70]);
        Tensor? mask = null;
        if (withMask)
        {
            var m = Enumerable.Repeat(1f, 140).ToArray();
            for (int i = 0; i < 5; i++) m[i] = 0;           // left padding in row 0
            for (int i = 0; i < 9; i++) m[139 - i] = 0;     // right padding in row 1
            mask = Tensor.FromArray(m, [2, 70]);
        }
        var losses = new List<float>();
        TensorScope.PoisonUninitialized = poison;
        try
        {
            for (int step = 0; step < 3; step++)
            {
                using var scope = TensorScope.Begin();
                opt.ZeroGrad();
                var loss = CausalLmObjective.Loss(model, ids, mask);
                loss.Backward();
                opt.Step();
                losses.Add(loss.Item());
            }
        }
        finally { TensorScope.PoisonUninitialized = false; }
        return (losses.ToArray(), model.Parameters().SelectMany(p => p.Value.ToArray<float>()).ToArray());
    }

    [Theory, InlineData(false), InlineData(true)]
    public void PoisonedPoolBuffersDoNotChangeTraining(bool withMask)
    {
        using var _ = KernelContext.Override(degreeOfParallelism: 1);
        var clean = Train(false, withMask);
        var poisoned = Train(true, withMask);
        Assert.All(clean.losses, l => Assert.True(float.IsFinite(l)));
        Assert.Equal(clean.losses, poisoned.losses);
        Assert.Equal(clean.weights, poisoned.weights);
    }
}
