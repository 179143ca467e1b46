using BitDistill.Autograd;
using BitDistill.Kernels;
using BitDistill.Models.Generation;
using BitDistill.Models.Qwen;
using BitDistill.Runtime;
using BitDistill.Tensors;
using Xunit.Abstractions;
using static BitDistill.Tests.TestUtil;

namespace BitDistill.Tests.Runtime;

/// <summary>The runtime's inference-only forward equals the training model's (Models' QwenModel) on the committed checkpoints:
/// qwen3 tied, qwen3 untied with attention biases, qwen2 with q/k/v biases. Prefill logits at every position, the logits of each
/// cached decode step, and greedy and sampled generations token for token.</summary>
public sealed class RuntimeParityTests(ITestOutputHelper output)
{
    public static TheoryData<string> Models() => new() { "qwen3-tied", "qwen3-untied-bias", "qwen2-tied" };

    private static readonly int[] Prompt = [5, 17, 33, 2, 60, 11, 7, 90, 41];
    private const double Tolerance = 1e-5;

    [Theory]
    [MemberData(nameof(Models))]
    public void PrefillLogitsAtEveryPositionMatchTheModel(string name)
    {
        var model = QwenModel.FromPretrained(FixturePath("qwen", name));
        var runtime = RuntimeModel.Load(FixturePath("qwen", name));
        int v = model.Config.VocabSize;
        float[] expected;
        using (GradMode.NoGrad()) expected = model.Forward(Tensor.FromArray(Prompt.Select(x => (long)x).ToArray(), [1, Prompt.Length])).Value.ToFloatArray();

        // one chunk, and chunks of 4 (the later chunks attend to cached positions, as a decode step does)
        foreach (int chunk in new[] { 128, 4 })
        {
            var session = runtime.CreateSession(32, chunk);
            var all = Tensor.Zeros([Prompt.Length, v]);
            session.Append(Prompt, all);
            double e = RelErr(all.ToFloatArray(), expected);
            double last = RelErr(session.Logits.ToFloatArray(), expected[((Prompt.Length - 1) * v)..]);
            output.WriteLine($"{name}, prefill chunk {chunk}: logits relative error {e:E2} (last position {last:E2})");
            Assert.True(e <= Tolerance, $"{name}, chunk {chunk}: prefill logits relative error {e:E3}");
            Assert.True(last <= Tolerance, $"{name}, chunk {chunk}: last-position logits relative error {last:E3}");
            Assert.Equal(Prompt.Length, session.Length);
        }
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void EachCachedDecodeStepAndTheGreedyTokensMatchTheModel(string name)
    {
        var model = QwenModel.FromPretrained(FixturePath("qwen", name));
        var runtime = RuntimeModel.Load(FixturePath("qwen", name));
        const int n = 16;
        var expected = new TextGenerator(model).Generate(Prompt, new GenerationOptions
        {
            MaxNewTokens = n, Sampling = new() { Greedy = true }, StopTokenIds = [], KeepStepLogits = true,
        });

        // step by step through a session: the logits each token is chosen from, against Models' KV-cached decode
        var session = runtime.CreateSession(Prompt.Length + n);
        session.Append(Prompt);
        double worst = 0;
        for (int i = 0; i < n; i++)
        {
            double e = RelErr(session.Logits.ToFloatArray(), expected.StepLogits![i]);
            worst = Math.Max(worst, e);
            Assert.True(e <= Tolerance, $"{name}: decode step {i}: logits relative error {e:E3}");
            Assert.Equal(expected.GeneratedIds[i], TokenSampler.ArgMax(session.Logits.ToFloatArray()));
            if (i < n - 1) session.Decode(expected.GeneratedIds[i]);
        }
        output.WriteLine($"{name}: worst decode-step logits relative error over {n} steps {worst:E2}");

        var r = new RuntimeGenerator(runtime).Generate(Prompt, new RuntimeGenerationOptions { MaxNewTokens = n, Sampling = new() { Greedy = true }, StopTokenIds = [] });
        Assert.Equal(expected.GeneratedIds, r.GeneratedIds);
        Assert.False(r.StoppedAtStopToken);
        Assert.True(RelErr(r.PromptLastLogits, expected.PromptLastLogits) <= Tolerance);
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void SampledGenerationsMatchTheModelForTheSameSeed(string name)
    {
        var model = QwenModel.FromPretrained(FixturePath("qwen", name));
        var runtime = RuntimeModel.Load(FixturePath("qwen", name));
        var settings = new[]
        {
            new SamplingOptions { Temperature = 0.8f, TopK = 20, TopP = 0.9f, RepetitionPenalty = 1.3f, Seed = 7 },
            new SamplingOptions { TopP = 0.5f, Seed = 11 },
            new SamplingOptions { Temperature = 1.5f, Seed = 3 },
        };
        foreach (var s in settings)
        {
            var expected = new TextGenerator(model).Generate(Prompt, new GenerationOptions { MaxNewTokens = 20, Sampling = s });
            var actual = new RuntimeGenerator(runtime).Generate(Prompt, new RuntimeGenerationOptions { MaxNewTokens = 20, Sampling = s.ToSettings() });
            Assert.Equal(expected.GeneratedIds, actual.GeneratedIds);
            Assert.Equal(expected.StopReason == StopReason.StopToken, actual.StoppedAtStopToken);
        }
    }

    [Fact]
    public void GeneratorStopsAtStopTokensStreamsIdsAndReusesASession()
    {
        var runtime = RuntimeModel.Load(FixturePath("qwen", "qwen3-tied"));
        var gen = new RuntimeGenerator(runtime);
        var free = gen.Generate(Prompt, new RuntimeGenerationOptions { MaxNewTokens = 10, Sampling = new() { Greedy = true }, StopTokenIds = [] });
        Assert.Equal(10, free.GeneratedIds.Length);

        var streamed = new List<int>();
        var session = runtime.CreateSession(64);
        var r = gen.Generate(Prompt, new RuntimeGenerationOptions
        {
            MaxNewTokens = 10, Sampling = new() { Greedy = true }, StopTokenIds = [free.GeneratedIds[3]], OnToken = streamed.Add,
        }, session);
        int firstStop = Array.IndexOf(free.GeneratedIds, free.GeneratedIds[3]);
        Assert.Equal(free.GeneratedIds[..(firstStop + 1)], r.GeneratedIds);
        Assert.Equal(r.GeneratedIds, streamed);
        Assert.True(r.StoppedAtStopToken);

        // the session is reset and reused; a second run gives the same tokens
        Assert.Equal(free.GeneratedIds, gen.Generate(Prompt, new RuntimeGenerationOptions { MaxNewTokens = 10, Sampling = new() { Greedy = true }, StopTokenIds = [] }, session).GeneratedIds);
        Assert.Empty(gen.Generate(Prompt, new RuntimeGenerationOptions { MaxNewTokens = 0 }).GeneratedIds);
        Assert.Throws<ArgumentOutOfRangeException>(() => gen.Generate([1, runtime.Config.VocabSize]));
        Assert.Throws<ArgumentException>(() => gen.Generate(Prompt, new RuntimeGenerationOptions { MaxNewTokens = 100 }, session));
        var small = runtime.CreateSession(4);
        var overflow = Assert.Throws<InvalidOperationException>(() => small.Append(Prompt));
        Assert.Contains("maximum sequence length 4", overflow.Message);
    }

    [Theory]
    [InlineData(DType.Float16)]
    [InlineData(DType.BFloat16)]
    public void ASixteenBitCheckpointStaysAtSixteenBitsAndGivesTheModelsLogits(DType dtype)
    {
        // intermediate 600: the multi-row FP16 path converts 256 weight rows at a time, so 3 blocks with a remainder
        var config = QwenConfig.Parse("""
            { "model_type": "qwen3", "vocab_size": 300, "hidden_size": 64, "intermediate_size": 600, "num_hidden_layers": 2,
              "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "max_position_embeddings": 128,
              "tie_word_embeddings": false, "eos_token_id": 2 }
            """);
        var dir = Path.Combine(Path.GetTempPath(), $"bitdistill-runtime-{dtype}-{Guid.NewGuid():N}");
        try
        {
            new QwenModel(config, new Generator(7)).SavePretrained(dir, dtype);
            var model = QwenModel.FromPretrained(dir); // the 16-bit weights, exactly widened to FP32
            var runtime = RuntimeModel.Load(dir);
            long fp32Bytes = 4L * (2 * (64 * 64 + 2 * 32 * 64 + 64 * 64 + 3 * 600 * 64) + 300 * 64 + 64);
            Assert.Equal(fp32Bytes / 2, runtime.DecodeBytesPerToken); // projections, head and one embedding row at 2 bytes

            float[] expected;
            using (GradMode.NoGrad()) expected = model.Forward(Tensor.FromArray(Prompt.Select(x => (long)x).ToArray(), [1, Prompt.Length])).Value.ToFloatArray();
            foreach (int chunk in new[] { 128, 1 }) // the whole prompt through the blocked SGEMM, and token by token through the GEMV
            {
                var session = runtime.CreateSession(32, chunk);
                var all = Tensor.Zeros([Prompt.Length, 300]);
                session.Append(Prompt, all);
                double e = RelErr(all.ToFloatArray(), expected);
                output.WriteLine($"{dtype} checkpoint, prefill chunk {chunk}: logits relative error {e:E2}");
                Assert.True(e <= Tolerance, $"chunk {chunk}: relative error {e:E3}");
            }
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true); }
    }
}
