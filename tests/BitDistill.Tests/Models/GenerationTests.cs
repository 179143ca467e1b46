using BitDistill.Autograd;
using BitDistill.Models.Generation;
using BitDistill.Models.Layers;
using BitDistill.Models.Qwen;
using BitDistill.Models.Tokenization;
using BitDistill.Tensors;
using Xunit.Abstractions;
using static BitDistill.Tests.TestUtil;

namespace BitDistill.Tests.Models;

/// <summary>Generation with the KV cache: the cached path gives the logits of a full forward pass over the whole sequence
/// (issue check: max |difference| ≤ 1e-4 × max |logit| at every step), the cache is written in place, stop tokens and streaming.</summary>
// Serial: the per-token allocation test counts the calling thread only, and whether attention chunks run on it depends on
// whether another test holds the kernel worker team at that moment.
[Collection("Serial")]
public sealed class GenerationTests(ITestOutputHelper output)
{
    public static TheoryData<string> Fixtures() => new() { "qwen3-tied", "qwen3-untied-bias", "qwen2-tied" };

    private static int[] Prompt(int n, int vocab, ulong seed)
    {
        var g = new Random((int)seed);
        return Enumerable.Range(0, n).Select(_ => g.Next(3, vocab)).ToArray();
    }

    private static float[] FullLogits(QwenModel model, int[] ids)
    {
        using var _ = GradMode.NoGrad();
        return model.Forward(Tensor.FromArray(ids.Select(x => (long)x).ToArray(), [1, ids.Length])).Value.ToFloatArray();
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void CachedGenerationLogitsEqualAFullForwardAtEveryStep(string name)
    {
        var model = QwenModel.FromPretrained(FixturePath("qwen", name));
        int v = model.Config.VocabSize;
        foreach (var sampling in new[] { new SamplingOptions { Greedy = true }, new SamplingOptions { Temperature = 0.9f, TopK = 20, TopP = 0.95f, RepetitionPenalty = 1.2f, Seed = 7 } })
        {
            var prompt = Prompt(7, v, 11);
            const int n = 16;
            var r = new TextGenerator(model).Generate(prompt, new GenerationOptions { MaxNewTokens = n, Sampling = sampling, StopTokenIds = [], KeepStepLogits = true });
            Assert.Equal(n, r.GeneratedIds.Length);
            Assert.Equal(StopReason.MaxNewTokens, r.StopReason);
            var seq = prompt.Concat(r.GeneratedIds[..^1]).ToArray();
            var full = FullLogits(model, seq);
            double worst = 0;
            for (int s = 0; s < n; s++)
            {
                var expected = full.AsSpan((prompt.Length - 1 + s) * v, v).ToArray();
                double diff = 0, scale = 0;
                for (int i = 0; i < v; i++) { diff = Math.Max(diff, Math.Abs(r.StepLogits![s][i] - expected[i])); scale = Math.Max(scale, Math.Abs(expected[i])); }
                double rel = diff / scale;
                worst = Math.Max(worst, rel);
                Assert.True(rel <= 1e-4, $"{name} step {s}: max |cached − full| = {diff:E3} > 1e-4 × max |logit| {scale:E3}");
            }
            Assert.Equal(r.StepLogits![0], r.PromptLastLogits);
            if (sampling.Greedy)
                for (int s = 0; s < n; s++) Assert.Equal(Sampler.ArgMax(full.AsSpan((prompt.Length - 1 + s) * v, v)), r.GeneratedIds[s]);
            output.WriteLine($"{name} ({(sampling.Greedy ? "greedy" : "sampled")}): worst max|cached − full| / max|logit| over {n} steps = {worst:E2}");
        }
    }

    [Theory]
    [InlineData(0)]   // sized by the first step, then grown by doubling
    [InlineData(32)]  // preallocated: written in place, never reallocated
    public void StepByStepCacheMatchesFullForwardWithAndWithoutPadding(int capacity)
    {
        var model = QwenModel.FromPretrained(FixturePath("qwen", "qwen3-untied-bias"));
        int v = model.Config.VocabSize;
        // two rows, the second left-padded by 3 (mask 0), prompt 6 then 5 single steps
        var ids = new long[2 * 11];
        var g = new Random(5);
        for (int i = 0; i < ids.Length; i++) ids[i] = g.Next(3, v);
        var mask = new float[2 * 11];
        for (int j = 0; j < 11; j++) { mask[j] = 1; mask[11 + j] = j < 3 ? 0 : 1; }
        var idsT = Tensor.FromArray(ids, [2, 11]);
        var maskT = Tensor.FromArray(mask, [2, 11]);
        using var _ = GradMode.NoGrad();
        var full = model.Forward(idsT, maskT).Value;
        var cache = new KvCache(model.Config.NumHiddenLayers, capacity);
        var got = new List<Tensor> { model.Forward(idsT.Narrow(1, 0, 6).Contiguous(), maskT.Narrow(1, 0, 6).Contiguous(), null, cache).Value };
        for (int t = 6; t < 11; t++)
        {
            using var scope = TensorScope.Begin();
            var step = model.Forward(idsT.Narrow(1, t, 1).Contiguous(), maskT.Narrow(1, 0, t + 1).Contiguous(), null, cache).Value;
            using (TensorScope.Suspend()) got.Add(step.Clone());
        }
        Assert.Equal(11, cache.Length);
        var cached = Tensor.Concat(got, 1);
        // padded positions' outputs are irrelevant (HF gives them arbitrary values): compare real positions
        var c = cached.ToFloatArray(); var f = full.ToFloatArray();
        for (int r = 0; r < 2; r++)
            for (int t = 0; t < 11; t++)
            {
                if (mask[r * 11 + t] == 0) continue;
                double e = RelErr(c.AsSpan((r * 11 + t) * v, v).ToArray(), f.AsSpan((r * 11 + t) * v, v).ToArray());
                Assert.True(e <= 1e-5, $"row {r} position {t}: relative error {e:E3}");
            }
        var layer = cache.Layers[0];
        if (capacity == 32) { Assert.Equal(0, layer.Reallocations); Assert.Equal(32, layer.Capacity); }
        else { Assert.True(layer.Reallocations > 0); Assert.True(layer.Capacity >= 11); }
        Assert.Equal([2, model.Config.NumKeyValueHeads, 11, model.Config.HeadDim], layer.Keys!.Shape.ToArray());
    }

    [Fact]
    public void AttentionReadsAStridedCachePrefixInPlaceWithTheSameResult()
    {
        var q = RandN([2, 4, 3, 8], 1);
        var buf = RandN([2, 2, 20, 8], 2);
        var bufV = RandN([2, 2, 20, 8], 3);
        var k = buf.Narrow(2, 0, 9); var v = bufV.Narrow(2, 0, 9);
        var mask = Tensor.FromArray(new float[] { 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1 }, [2, 9]);
        using var _ = GradMode.NoGrad();
        var strided = F.Attention(q, k, v, causal: true, keyPaddingMask: mask).Value.ToFloatArray();
        var copied = F.Attention(q, k.Contiguous(), v.Contiguous(), causal: true, keyPaddingMask: mask).Value.ToFloatArray();
        Assert.Equal(copied, strided);
    }

    [Fact]
    public void CacheRefusesToRecordGradients()
    {
        var model = QwenModel.FromPretrained(FixturePath("qwen", "qwen3-tied"));
        var e = Assert.Throws<InvalidOperationException>(() => model.Forward(Tensor.FromArray(new long[] { 1, 2 }, [1, 2]), null, null, new KvCache(3)));
        Assert.Contains("NoGrad", e.Message);
    }

    [Fact]
    public void StopsAtAStopTokenAndStreamsEveryToken()
    {
        var model = QwenModel.FromPretrained(FixturePath("qwen", "qwen3-tied"));
        var gen = new TextGenerator(model);
        Assert.Contains(2, gen.DefaultStopTokenIds); // config eos_token_id
        var prompt = Prompt(5, model.Config.VocabSize, 3);
        var free = gen.Generate(prompt, new GenerationOptions { MaxNewTokens = 10, Sampling = new() { Greedy = true }, StopTokenIds = [] });
        int stopAt = Enumerable.Range(0, 10).First(i => !free.GeneratedIds[..i].Contains(free.GeneratedIds[i]) && i >= 2);
        var streamed = new List<GeneratedToken>();
        var r = gen.Generate(prompt, new GenerationOptions
        {
            MaxNewTokens = 10, Sampling = new() { Greedy = true }, StopTokenIds = [free.GeneratedIds[stopAt]], OnToken = streamed.Add,
        });
        Assert.Equal(StopReason.StopToken, r.StopReason);
        Assert.Equal(free.GeneratedIds[..(stopAt + 1)], r.GeneratedIds);
        Assert.Equal(r.GeneratedIds, streamed.Select(s => s.Id));
        Assert.Equal(Enumerable.Range(0, stopAt + 1), streamed.Select(s => s.Index));
        Assert.True(streamed[^1].IsStop);
        Assert.All(streamed.SkipLast(1), s => Assert.False(s.IsStop));
        Assert.Empty(gen.Generate(prompt, new GenerationOptions { MaxNewTokens = 0 }).GeneratedIds);
        Assert.Throws<ArgumentOutOfRangeException>(() => gen.Generate([1, model.Config.VocabSize]));
        Assert.Throws<ArgumentException>(() => gen.Generate(Array.Empty<int>()));
        // sampling is reproducible for a seed
        var s1 = gen.Generate(prompt, new GenerationOptions { MaxNewTokens = 8, StopTokenIds = [], Sampling = new() { Seed = 5 } });
        var s2 = gen.Generate(prompt, new GenerationOptions { MaxNewTokens = 8, StopTokenIds = [], Sampling = new() { Seed = 5 } });
        Assert.Equal(s1.GeneratedIds, s2.GeneratedIds);
    }

    [Fact]
    public void IncrementalDecoderHoldsBackSplitCharactersAndMatchesDecode()
    {
        var tok = TextTokenizer.Load(FixturePath("tokenizers", "qwen3"));
        const string text = "naïve café — 世界 𝔘𝔫𝔦 🙂🚀 done<|im_end|>";
        var ids = tok.Encode(text);
        var dec = new IncrementalDecoder(tok, skipSpecialTokens: true);
        var pieces = ids.Select(dec.Push).ToList();
        pieces.Add(dec.Flush());
        Assert.Equal(tok.Decode(ids, skipSpecialTokens: true), string.Concat(pieces));
        Assert.DoesNotContain(pieces, p => p.Contains('\uFFFD'));
        Assert.Contains(pieces.SkipLast(1), p => p.Length == 0); // some token ended inside a character and was held back
        // byte-by-byte: 🙂 is F0 9F 99 82; nothing until the fourth byte
        var byteIds = "🙂"u8.ToArray().Select(b => tok.TokenToId(ByteLevelChar(b))!.Value).ToArray();
        var d2 = new IncrementalDecoder(tok);
        Assert.Equal(["", "", "", "🙂"], byteIds.Select(d2.Push).ToArray());
        // an unfinished character at the end becomes U+FFFD on flush
        var d3 = new IncrementalDecoder(tok);
        Assert.Equal("", d3.Push(byteIds[0]));
        Assert.Equal("\uFFFD", d3.Flush());
    }

    // GPT-2 byte-to-unicode map
    private static string ByteLevelChar(byte b)
    {
        var bs = Enumerable.Range('!', '~' - '!' + 1).Concat(Enumerable.Range('¡', '¬' - '¡' + 1)).Concat(Enumerable.Range('®', 'ÿ' - '®' + 1)).ToList();
        if (bs.Contains(b)) return ((char)b).ToString();
        int n = 0;
        for (int x = 0; x < 256; x++) { if (bs.Contains(x)) continue; if (x == b) return ((char)(256 + n)).ToString(); n++; }
        throw new InvalidOperationException();
    }

    [Fact]
    public void TopKIsSortedLargestFirst()
    {
        var (ids, vals) = TextGenerator.TopK([0.5f, 3f, -1f, 3f, 2f, 7f], 3);
        Assert.Equal([5, 1, 3], ids);
        Assert.Equal([7f, 3f, 3f], vals);
        Assert.Equal(2, TextGenerator.TopK([1f, 2f], 5).Ids.Length);
    }

    [Fact]
    public void DecodeStepsDoNotAllocateArraysThatGrowWithTheModelPerToken()
    {
        // Per token, only small objects (views, variables) are allocated; activations and logits come from the step's pool.
        // A 4× larger vocabulary and intermediate size must not change the per-token allocation by more than a few KB,
        // while a single logits row of the larger model is 128 KB.
        long Small = PerToken(8192, 1024), Large = PerToken(32768, 4096);
        output.WriteLine($"allocated per generated token: {Small} bytes (vocab 8192), {Large} bytes (vocab 32768, 4× MLP)");
        Assert.True(Large - Small < 8192, $"per-token allocation grows with the model: {Small} → {Large} bytes");

        long PerToken(int vocab, int inter)
        {
            var config = QwenConfig.Parse($$"""
                {"model_type":"qwen3","vocab_size":{{vocab}},"hidden_size":128,"intermediate_size":{{inter}},"num_hidden_layers":2,
                 "num_attention_heads":4,"num_key_value_heads":2,"head_dim":32,"tie_word_embeddings":true}
                """);
            var model = new QwenModel(config, new Generator(1));
            var gen = new TextGenerator(model);
            var prompt = Prompt(8, vocab, 1);
            gen.Generate(prompt, new GenerationOptions { MaxNewTokens = 8, Sampling = new() { Greedy = true }, StopTokenIds = [] }); // warm the pool
            var opts = new GenerationOptions { Sampling = new() { Greedy = true }, StopTokenIds = [] };
            long before = GC.GetAllocatedBytesForCurrentThread();
            gen.Generate(prompt, opts with { MaxNewTokens = 8 });
            long mid = GC.GetAllocatedBytesForCurrentThread();
            gen.Generate(prompt, opts with { MaxNewTokens = 40 });
            long after = GC.GetAllocatedBytesForCurrentThread();
            return ((after - mid) - (mid - before)) / 32; // the difference cancels per-call buffers (cache, logits rows, prefill)
        }
    }
}
