using BitDistill.Distill.Data;
using BitDistill.Distill.Objectives;
using BitDistill.Distill.Training;
using BitDistill.Models;
using BitDistill.Models.BitNet;
using BitDistill.Models.Qwen;
using BitDistill.Tensors;

namespace BitDistill.Tests.Distill;

/// <summary>The trainer with the GPTQ-/AWQ-style training quantisers: the loss decreases, the layers re-solve on schedule,
/// and a run interrupted mid-way resumes from its checkpoint to bitwise the same weights and quantiser state.</summary>
public sealed class TrainingQuantizerTrainingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bitdistill-qat-train").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private static CausalLanguageModel Student(WeightQuantizer kind) => Refiner.Refine(ModelRegistry.Create(QwenConfig.Parse("""
        {"model_type": "qwen3", "vocab_size": 53, "hidden_size": 16, "intermediate_size": 24, "num_hidden_layers": 1,
         "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 8, "rms_norm_eps": 1e-6, "rope_theta": 10000,
         "tie_word_embeddings": true, "max_position_embeddings": 64, "hidden_act": "silu"}
        """), new Generator(3)), new BitNetConfig { SubLn = SubLnPlacement.Paper, WeightQuant = kind, RequantEvery = 4 });

    private static TokenDataset Data() => new(Enumerable.Range(0, 4000).Select(i => (i * 7 + i / 13) % 53).ToArray(), "synthetic");

    private TrainingOptions Options(string name, int steps, CancellationToken cancel = default, Action<long>? onStep = null) => new()
    {
        Steps = steps, BatchSize = 4, SeqLen = 12, LearningRate = 1e-2f, WarmupSteps = 1, CheckpointDir = Path.Combine(_dir, name),
        CheckpointEvery = 100, Name = name, Cancellation = cancel, OnStep = onStep,
    };

    [Theory]
    [InlineData(WeightQuantizer.Gptq)]
    [InlineData(WeightQuantizer.Awq)]
    public void TrainingWithTheQuantiserLowersTheLossAndResolvesOnSchedule(WeightQuantizer kind)
    {
        var model = Student(kind);
        var h = Trainer.Train(model, new CorpusBatches(Data(), 4, 12, 1), new CausalLmObjective(), Options("train", 40));
        double first = h.Loss.Take(3).Average(l => l.Loss), last = h.Loss.TakeLast(3).Average(l => l.Loss);
        Assert.True(last < 0.85 * first, $"loss {first:F3} → {last:F3}");
        // solved at the first batch, then after steps 4, 8, …, 40
        Assert.All(Refiner.BitLinears(model), l => Assert.Equal(1 + 40 / 4, l.Layer.QuantizerSolves));
    }

    [Theory]
    [InlineData(WeightQuantizer.Gptq)]
    [InlineData(WeightQuantizer.Awq)]
    public void ANewTrainingRunSolvesOnItsOwnFirstBatchInsteadOfKeepingThePreviousRunsSolution(WeightQuantizer kind)
    {
        var model = Student(kind);
        Trainer.Train(model, new CorpusBatches(Data(), 4, 12, 1), new CausalLmObjective(), Options("stage-a", 6));
        Assert.All(Refiner.BitLinears(model), l => Assert.Equal(1 + 6 / 4, l.Layer.QuantizerSolves));
        // a second stage on other data: the counters restart, the first batch solves, and the schedule restarts from there
        var other = new TokenDataset(Enumerable.Range(0, 4000).Select(i => (i * 11 + i / 7) % 53).ToArray(), "other");
        Trainer.Train(model, new CorpusBatches(other, 4, 12, 2), new CausalLmObjective(), Options("stage-b", 3));
        Assert.All(Refiner.BitLinears(model), l => Assert.Equal(1, l.Layer.QuantizerSolves));
    }

    [Theory]
    [InlineData(WeightQuantizer.Gptq)]
    [InlineData(WeightQuantizer.Awq)]
    public void AnInterruptedRunResumesToBitwiseTheSameWeightsAndQuantiserState(WeightQuantizer kind)
    {
        var straight = Student(kind);
        Trainer.Train(straight, new CorpusBatches(Data(), 4, 12, 1), new CausalLmObjective(), Options("straight", 10));

        using var cancel = new CancellationTokenSource();
        var interrupted = Student(kind);
        Assert.Throws<OperationCanceledException>(() => Trainer.Train(interrupted, new CorpusBatches(Data(), 4, 12, 1), new CausalLmObjective(),
            Options("resumed", 10, cancel.Token, step => { if (step == 6) cancel.Cancel(); })));
        var resumed = Student(kind); // a fresh process: the checkpoint holds the statistics, the solution and the step counters
        var h = Trainer.Train(resumed, new CorpusBatches(Data(), 4, 12, 1), new CausalLmObjective(), Options("resumed", 10));
        Assert.True(h.Resumed);
        var expected = straight.StateDict();
        foreach (var (name, t) in resumed.StateDict())
            Assert.True(expected[name].ToArray<float>().SequenceEqual(t.ToArray<float>()), $"{name} differs after resume");
        Assert.Contains(expected.Keys, k => k.EndsWith(".qat_gram", StringComparison.Ordinal));
    }
}
