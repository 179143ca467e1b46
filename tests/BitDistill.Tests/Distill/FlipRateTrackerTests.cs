using BitDistill.Distill.Data;
using BitDistill.Distill.Objectives;
using BitDistill.Distill.Training;
using BitDistill.Models;
using BitDistill.Models.BitNet;
using BitDistill.Models.Qwen;
using BitDistill.Tensors;

namespace BitDistill.Tests.Distill;

/// <summary>The flip rate of a ternary student's weights is sampled during training and reflects real changes.</summary>
public class FlipRateTrackerTests
{
    [Fact]
    public void TrainingFlipsTernaryWeightsAndNoTrainingFlipsNone()
    {
        var fp = ModelRegistry.Create(QwenConfig.Parse("""
            {"model_type": "qwen3", "vocab_size": 53, "hidden_size": 16, "intermediate_size": 24, "num_hidden_layers": 1,
             "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 8, "rms_norm_eps": 1e-6, "rope_theta": 10000,
             "tie_word_embeddings": true, "max_position_embeddings": 64, "hidden_act": "silu"}
            """), new Generator(3));
        var student = Refiner.Refine(fp, new BitNetConfig());
        var idle = new FlipRateTracker(student, "idle", every: 1);
        idle.Start();
        idle.OnStep(1);
        Assert.Equal(0, idle.Samples[0].FlipRate);
        var tracker = new FlipRateTracker(student, "stage 2", every: 2);
        tracker.Start();
        var data = new TokenDataset(Enumerable.Range(0, 3000).Select(i => (i * 11 + i / 7) % 53).ToArray(), "synthetic");
        Trainer.Train(student, new CorpusBatches(data, 2, 12, 1), new CausalLmObjective(),
            new TrainingOptions { Steps = 6, BatchSize = 2, SeqLen = 12, LearningRate = 5e-2f, WarmupSteps = 1, OnStep = tracker.OnStep });
        Assert.Equal([2L, 4L, 6L], tracker.Samples.Select(s => s.Step));
        Assert.All(tracker.Samples, s => Assert.InRange(s.FlipRate, 0, 1));
        Assert.True(tracker.Samples.Sum(s => s.FlipRate) > 0, "training at lr 5e-2 flipped no ternary weight");
    }
}
