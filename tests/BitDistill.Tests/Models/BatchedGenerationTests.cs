using BitDistill.Models;
using BitDistill.Models.Generation;
using BitDistill.Models.Qwen;
using BitDistill.Models.Tokenization;
using BitDistill.Tensors;
using static BitDistill.Tests.TestUtil;

namespace BitDistill.Tests.Models;

/// <summary>Batched greedy generation: prompts of different lengths, left-padded through one forward pass per step, give each
/// row exactly the tokens <see cref="TextGenerator"/> gives that prompt alone, stop per row, and come back in input order.</summary>
public class BatchedGenerationTests
{
    private static QwenConfig Tiny(string eos = "null", int vocab = 61) => QwenConfig.Parse($$"""
        {"model_type": "qwen3", "vocab_size": {{vocab}}, "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2,
         "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 12, "rms_norm_eps": 1e-6, "rope_theta": 10000,
         "tie_word_embeddings": false, "max_position_embeddings": 128, "hidden_act": "silu", "eos_token_id": {{eos}}}
        """);

    private static int[][] Prompts(int vocab, params int[] lengths)
    {
        var g = new Random(17);
        return [.. lengths.Select(n => Enumerable.Range(0, n).Select(_ => g.Next(3, vocab)).ToArray())];
    }

    private static int[] Alone(CausalLanguageModel model, int[] prompt, int maxNew, IReadOnlyCollection<int>? stops) =>
        new TextGenerator(model).Generate(prompt, new GenerationOptions { MaxNewTokens = maxNew, Sampling = new SamplingOptions { Greedy = true }, StopTokenIds = stops }).GeneratedIds;

    public static TheoryData<string> Models() => new() { "tiny-random", "qwen3-untied-bias", "qwen2-tied" };

    private static CausalLanguageModel Load(string name) =>
        name == "tiny-random" ? ModelRegistry.Create(Tiny(), new Generator(3)) : QwenModel.FromPretrained(FixturePath("qwen", name));

    [Theory]
    [MemberData(nameof(Models))]
    public void EachRowEqualsGeneratingItsPromptAlone(string name)
    {
        var model = Load(name);
        var prompts = Prompts(model.Config.VocabSize, 5, 1, 9, 3, 9, 2, 6);
        const int maxNew = 10;
        foreach (int batchSize in new[] { 16, 3 })   // everything in one batch; several batches of sorted lengths
        {
            var rows = new BatchedGenerator(model).Generate(prompts, new BatchedGenerationOptions { MaxNewTokens = maxNew, BatchSize = batchSize, StopTokenIds = [] });
            Assert.Equal(prompts.Length, rows.Count);
            for (int i = 0; i < prompts.Length; i++)
            {
                Assert.Equal(prompts[i], rows[i].PromptIds);
                Assert.Equal(maxNew, rows[i].GeneratedIds.Length);
                Assert.Equal(StopReason.MaxNewTokens, rows[i].StopReason);
                Assert.Equal(Alone(model, prompts[i], maxNew, []), rows[i].GeneratedIds);
            }
        }
    }

    [Fact]
    public void NonFiniteLogitsStopBatchedGenerationAsTheyStopGeneratingAlone()
    {
        var model = Load("tiny-random");
        var lmHead = model.NamedParameters().First(p => p.Name.Contains("lm_head")).Param;
        lmHead.Value.CopyFrom(Tensor.Full(lmHead.Value.ShapeArray, double.NaN));
        var prompts = Prompts(model.Config.VocabSize, 3, 5);
        var e = Assert.Throws<InvalidOperationException>(() => new BatchedGenerator(model).Generate(prompts, new BatchedGenerationOptions { MaxNewTokens = 4, BatchSize = 2 }));
        Assert.Contains("not finite", e.Message);
        Assert.Throws<InvalidOperationException>(() => Alone(model, prompts[0], 4, []));
    }

    [Fact]
    public void RowsStopAtTheirOwnStopTokenWhileOthersContinue()
    {
        var model = Load("tiny-random");
        var prompts = Prompts(model.Config.VocabSize, 4, 8, 2, 6, 1);
        const int maxNew = 12;
        var free = new BatchedGenerator(model).Generate(prompts, new BatchedGenerationOptions { MaxNewTokens = maxNew, StopTokenIds = [] });
        // a stop token that some row generates early: the third token of the first row whose first tokens are distinct from it
        int stop = free.Select(r => r.GeneratedIds[2]).First(t => free.Any(r => !r.GeneratedIds.Contains(t)));
        var stops = new[] { stop };
        var rows = new BatchedGenerator(model).Generate(prompts, new BatchedGenerationOptions { MaxNewTokens = maxNew, StopTokenIds = stops });
        Assert.Contains(rows, r => r.StopReason == StopReason.StopToken && r.GeneratedIds.Length <= 3);
        Assert.Contains(rows, r => r.StopReason == StopReason.MaxNewTokens && r.GeneratedIds.Length == maxNew);
        for (int i = 0; i < prompts.Length; i++)
        {
            var alone = Alone(model, prompts[i], maxNew, stops);
            Assert.Equal(alone, rows[i].GeneratedIds);
            Assert.Equal(alone[^1] == stop ? StopReason.StopToken : StopReason.MaxNewTokens, rows[i].StopReason);
            Assert.Equal(alone.Length, Array.IndexOf(free[i].GeneratedIds, stop) is int k and >= 0 ? k + 1 : maxNew);
        }
        // the config's eos_token_id is the default stop token
        var eosModel = ModelRegistry.Create(Tiny(stop.ToString(System.Globalization.CultureInfo.InvariantCulture)), new Generator(3));
        var byDefault = new BatchedGenerator(eosModel).Generate(prompts, new BatchedGenerationOptions { MaxNewTokens = maxNew });
        Assert.Equal(rows.Select(r => r.GeneratedIds), byDefault.Select(r => r.GeneratedIds));
    }

    [Fact]
    public void TextPromptsGiveTheTextOfGeneratingEachAlone()
    {
        var tok = TextTokenizer.Load(Path.Combine(AppContext.BaseDirectory, "data", "tokenizer"));
        var model = ModelRegistry.Create(Tiny(vocab: tok.VocabSize), new Generator(5));
        string[] prompts = ["It is a truth universally acknowledged", "Emma", "Summarize: the quick brown fox jumps over the lazy dog. Summary:"];
        var rows = new BatchedGenerator(model, tok).Generate(prompts, new BatchedGenerationOptions { MaxNewTokens = 8 });
        // the tokenizer's EOS is a default stop token and its pad token fills the padding
        Assert.Contains(tok.EosId!.Value, new BatchedGenerator(model, tok).DefaultStopTokenIds);
        for (int i = 0; i < prompts.Length; i++)
        {
            var alone = new TextGenerator(model, tok).Generate(prompts[i], new GenerationOptions { MaxNewTokens = 8, Sampling = new SamplingOptions { Greedy = true } });
            Assert.Equal(alone.GeneratedIds, rows[i].GeneratedIds);
            Assert.Equal(alone.Text, rows[i].Text);
            Assert.Equal(tok.Encode(prompts[i], addSpecialTokens: false), rows[i].PromptIds);
        }
        Assert.Contains(rows, r => r.Text.Length > 0);
    }

    [Fact]
    public void EachStepIsOneForwardPassForTheWholeBatch()
    {
        var model = new CountingModel(Load("tiny-random"));
        var prompts = Prompts(model.Config.VocabSize, 5, 1, 9, 3, 9, 2, 6);
        new BatchedGenerator(model).Generate(prompts, new BatchedGenerationOptions { MaxNewTokens = 10, BatchSize = 16, StopTokenIds = [] });
        // the prefill of all 7 rows padded to 9, then 9 single-token steps (the 10th token needs no forward)
        Assert.Equal([(7, 9), .. Enumerable.Repeat((7, 1), 9)], model.Calls);
        model.Calls.Clear();
        new BatchedGenerator(model).Generate(prompts, new BatchedGenerationOptions { MaxNewTokens = 4, BatchSize = 3, StopTokenIds = [] });
        // sorted by length: [9, 9, 6], [5, 3, 2], [1]: three batches, each a prefill padded to its longest prompt (9, 5, 1) and 3 steps
        Assert.Equal([(3, 9), (3, 1), (3, 1), (3, 1), (3, 5), (3, 1), (3, 1), (3, 1), (1, 1), (1, 1), (1, 1), (1, 1)], model.Calls);
    }

    [Fact]
    public void BadInputIsRefusedAndZeroNewTokensGivesEmptyRows()
    {
        var model = Load("tiny-random");
        var g = new BatchedGenerator(model);
        Assert.Throws<ArgumentException>(() => g.Generate([[1, 2], []]));
        Assert.Throws<ArgumentOutOfRangeException>(() => g.Generate([[1, 99]]));
        Assert.Throws<ArgumentOutOfRangeException>(() => g.Generate([[1]], new BatchedGenerationOptions { BatchSize = 0 }));
        Assert.Throws<InvalidOperationException>(() => g.Generate(["text needs a tokenizer"]));
        var empty = g.Generate([[1, 2, 3], [4]], new BatchedGenerationOptions { MaxNewTokens = 0 });
        Assert.All(empty, r => Assert.Empty(r.GeneratedIds));
        Assert.Empty(g.Generate(Array.Empty<int[]>()));
    }
}
