using BitDistill.Distill.Data;
using BitDistill.Distill.Demo;
using BitDistill.Distill.Evaluation;
using BitDistill.Models;
using BitDistill.Models.Tokenization;
using BitDistill.Tensors;
using BitDistill.Tensors.SafeTensors;

namespace BitDistill.Tests.Distill;

/// <summary>The base model that ships in data/models (see its README): a 5–30 M-parameter Qwen3 stored in BF16 with its own
/// 8k byte-level BPE tokenizer, that has learnt language: on the held-out sample of every pretraining corpus its perplexity
/// is far below the unigram baseline's.</summary>
public sealed class ShippedBaseModelTests
{
    private static string DataDir => Path.Combine(AppContext.BaseDirectory, "data");

    [Fact]
    public void TheBaseModelIsASmallBf16Qwen3WithItsOwnTokenizer()
    {
        var dir = EmbeddedDemo.BaseModelDir(DataDir);
        var config = ModelRegistry.LoadConfig(Path.Combine(dir, "config.json"));
        Assert.InRange(config.ParameterCount, 5_000_000, 30_000_000);
        using (var f = SafeTensorsFile.Open(Path.Combine(dir, "model.safetensors")))
            Assert.All(f.Names, n => Assert.Equal(DType.BFloat16, f.Entry(n).DType));
        long bytes = Directory.GetFiles(dir).Sum(p => new FileInfo(p).Length);
        Assert.True(bytes < 50_000_000, $"the base model folder holds {bytes:N0} bytes");
        var tok = TextTokenizer.Load(dir);
        Assert.InRange(tok.VocabSize, 4096, 16384);
        Assert.Equal(tok.VocabSize, config.VocabSize);
    }

    [Fact]
    public void HeldOutPerplexityIsFarBelowTheUnigramBaselineOnEveryCorpus()
    {
        var dir = EmbeddedDemo.BaseModelDir(DataDir);
        var model = ModelRegistry.FromPretrained(dir);
        var tok = TextTokenizer.Load(dir);
        int eos = tok.TokenToId("<|endoftext|>")!.Value;
        // the unigram model is estimated on the shipped sample of the training text
        var train = TokenDataset.FromFiles([EmbeddedDemo.Stage2Corpus(DataDir)], tok, eos);
        const int Seq = 128, Windows = 12;
        foreach (var name in PretrainingCorpus.Names)
        {
            var held = TokenDataset.FromFiles([Path.Combine(DataDir, "corpus", "heldout", name + ".txt.gz")], tok, eos);
            Assert.True(held.Count > Seq * Windows, $"{name}: only {held.Count} held-out tokens");
            double unigram = UnigramBaseline.Perplexity(train.Tokens, held, tok.VocabSize, new PerplexityProtocol(Seq, Windows));
            double ppl = Perplexity.Compute(model, held, new PerplexityProtocol(Seq, Windows));
            Assert.True(ppl < unigram / 4, $"{name}: perplexity {ppl:F1} vs unigram {unigram:F1}");
        }
    }
}
