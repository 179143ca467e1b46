using BitDistill.Runtime;
using BitDistill.Tensors;
using Xunit.Abstractions;
using static BitDistill.Tests.TestUtil;

namespace BitDistill.Tests.Runtime;

/// <summary>The runtime's KV cache: a Float16 cache (half the bytes, keys and values rounded to halves) against the Float32 one
/// on the committed checkpoints, and truncating a session back to a shared prefix.</summary>
public sealed class KvCacheTests(ITestOutputHelper output)
{
    public static TheoryData<string> Models() => new() { "qwen3-tied", "qwen3-untied-bias", "qwen2-tied" };

    private static readonly int[] Prompt = [5, 17, 33, 2, 60, 11, 7, 90, 41];

    [Theory]
    [MemberData(nameof(Models))]
    public void AHalfCacheTakesHalfTheBytesAndMovesTheLogitsLittle(string name)
    {
        var runtime = RuntimeModel.Load(FixturePath("qwen", name));
        const int n = 24;
        var full = runtime.CreateSession(Prompt.Length + n);
        var half = runtime.CreateSession(Prompt.Length + n, kvCache: DType.Float16);
        Assert.Equal(DType.Float16, half.KvCacheType);
        Assert.Equal(full.KvCacheBytes, 2 * half.KvCacheBytes);
        var c = runtime.Config;
        Assert.Equal(2L * c.NumHiddenLayers * c.NumKeyValueHeads * (Prompt.Length + n) * c.HeadDim * 4, full.KvCacheBytes);
        // the same tokens fed to both (these random fixtures' near-uniform logits make their own greedy choices fragile)
        var tokens = Enumerable.Range(0, n).Select(i => (i * 37 + 5) % c.VocabSize).ToArray();
        full.Append(Prompt);
        half.Append(Prompt);
        double worst = 0;
        for (int i = 0; i < n; i++)
        {
            worst = Math.Max(worst, RelErr(half.Logits.ToFloatArray(), full.Logits.ToFloatArray()));
            full.Decode(tokens[i]);
            half.Decode(tokens[i]);
        }
        output.WriteLine($"{name}: worst logits relative error of the Float16 cache over {n} steps: {worst:E2}");
        Assert.True(worst > 0, "the half cache must round something for this test to mean anything");
        Assert.True(worst <= 2e-3, $"{name}: logits relative error {worst:E3}");
        Assert.Throws<ArgumentOutOfRangeException>(() => new RuntimeGenerationOptions { KvCache = DType.BFloat16 }.Validate());
        Assert.Throws<ArgumentException>(() => runtime.CreateSession(8, kvCache: DType.Int8));
    }

    [Fact]
    public void OnTheShippedBaseModelAHalfCacheGeneratesTheSameGreedyText()
    {
        // the pretrained base model that ships in the repo, continuing held-out Austen passages of about 150 tokens (attention over
        // three blocks of converted positions), as `generate --kv-cache fp16` runs it
        string dir = Path.Combine(AppContext.BaseDirectory, "data", "models", "base");
        var runtime = RuntimeModel.Load(dir);
        var tokenizer = BitDistill.Models.Tokenization.TextTokenizer.Load(dir);
        string text;
        using (var gz = new System.IO.Compression.GZipStream(File.OpenRead(Path.Combine(AppContext.BaseDirectory, "data", "corpus", "austen.valid.txt.gz")), System.IO.Compression.CompressionMode.Decompress))
        using (var reader = new StreamReader(gz)) text = reader.ReadToEnd();
        var ids = tokenizer.Encode(text);
        var generator = new RuntimeGenerator(runtime);
        int differing = 0;
        for (int p = 0; p < 4; p++)
        {
            var prompt = ids.AsSpan(p * 997, 150).ToArray();
            var options = new RuntimeGenerationOptions { MaxNewTokens = 32, Sampling = new() { Greedy = true }, StopTokenIds = [] };
            var a = generator.Generate(prompt, options);
            var b = generator.Generate(prompt, options with { KvCache = DType.Float16 });
            double e = RelErr(b.PromptLastLogits, a.PromptLastLogits);
            output.WriteLine($"passage {p}: prompt-last logits relative error {e:E2}; tokens {(a.GeneratedIds.SequenceEqual(b.GeneratedIds) ? "identical" : "differ")}");
            Assert.True(e > 0 && e <= 2e-3, $"passage {p}: relative error {e:E3}");
            if (!a.GeneratedIds.SequenceEqual(b.GeneratedIds)) differing++;
        }
        Assert.Equal(0, differing);
    }

    [Theory]
    [InlineData("Float32")]
    [InlineData("Float16")]
    public void TruncatingToASharedPrefixGivesTheLogitsOfTheFreshSequence(string cache)
    {
        var kv = Enum.Parse<DType>(cache);
        var runtime = RuntimeModel.Load(FixturePath("qwen", "qwen3-tied"));
        int[] prefix = [5, 17, 33, 2], first = [60, 11, 7], second = [90, 41];
        var fresh = runtime.CreateSession(16, kvCache: kv);
        fresh.Append(prefix);
        fresh.Append(second);
        fresh.Decode(3);

        var reused = runtime.CreateSession(16, kvCache: kv);
        reused.Append(prefix);
        reused.Append(first);
        reused.Decode(8);
        reused.Truncate(prefix.Length);
        Assert.Equal(prefix.Length, reused.Length);
        reused.Append(second);
        reused.Decode(3);
        Assert.Equal(fresh.Logits.ToFloatArray(), reused.Logits.ToFloatArray());

        Assert.Throws<ArgumentOutOfRangeException>(() => reused.Truncate(reused.Length + 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => reused.Truncate(-1));
        reused.Truncate(0);
        Assert.Equal(0, reused.Length);
    }

    [Fact]
    public void AHalfCacheStoresRoundedHalvesAndShiftsThem()
    {
        const int hkv = 2, capacity = 5, d = 3;
        var keys = Tensor.FromArray(new float[] { 1f / 3, 70000f, -2.5f, 1e-8f, 0.1f, -0.2f }, [1, hkv * d]);
        var values = Tensor.FromArray(new float[] { 1, 2, 3, 4, 5, 6 }, [1, hkv * d]);
        var kc = Tensor.Zeros([hkv, capacity, d], DType.Float16, Device.Cpu);
        var vc = Tensor.Zeros([hkv, capacity, d], DType.Float16, Device.Cpu);
        InferenceOps.WriteKeyValue(keys, values, 1, kc, vc, 3);
        var k = kc.ToFloatArray();
        // position 3 of head 0 and of head 1, each rounded to the nearest half (70000 is beyond the largest half: +Inf)
        Assert.Equal([(float)(Half)(1f / 3), float.PositiveInfinity, -2.5f], k[(3 * d)..(4 * d)]);
        Assert.Equal([(float)(Half)1e-8f, (float)(Half)0.1f, (float)(Half)(-0.2f)], k[((capacity + 3) * d)..((capacity + 4) * d)]);
        InferenceOps.ShiftCache(kc, vc, 3, 2);
        var v = vc.ToFloatArray();
        Assert.Equal([1f, 2f, 3f], v[..d]);
        Assert.Equal([4f, 5f, 6f], v[(capacity * d)..(capacity * d + d)]);
        var mixed = Tensor.Zeros([hkv, capacity, d], DType.Float32, Device.Cpu);
        var e = Assert.Throws<ArgumentException>(() => InferenceOps.WriteKeyValue(keys, values, 1, kc, mixed, 0));
        Assert.Contains("Float16", e.Message);
    }
}
