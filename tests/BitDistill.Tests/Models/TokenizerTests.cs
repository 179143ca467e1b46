using System.Text;
using System.Text.Json;
using BitDistill.Models.Tokenization;

namespace BitDistill.Tests;

/// <summary>Tokenizer parity with Hugging Face semantics, trainer round trips and file errors (the CLI verbs: <see cref="TokenizerCliTests"/>).</summary>
public class TokenizerTests(TokenizerFixture fx) : IClassFixture<TokenizerFixture>
{
    [Fact]
    public void Qwen3MatchesEveryExpectedLine()
    {
        Assert.Equal(309, fx.Expected.Count);
        var failures = new List<string>();
        foreach (var (text, ids) in fx.Expected)
        {
            var got = fx.Qwen3.Encode(text);
            if (!got.SequenceEqual(ids))
                failures.Add($"{JsonSerializer.Serialize(text)}: expected [{string.Join(",", ids)}] got [{string.Join(",", got)}]");
        }
        Assert.True(failures.Count == 0, $"{failures.Count} of {fx.Expected.Count} lines differ:\n" + string.Join("\n", failures.Take(20)));
    }

    [Fact]
    public void Qwen3DecodeRoundTripsExpectedLines()
    {
        foreach (var (text, ids) in fx.Expected)
            Assert.Equal(UnicodeNormalizer.Normalize(text, NormalizationKind.Nfc), fx.Qwen3.Decode(ids));
    }

    [Fact]
    public void Qwen3SpecialTokensAndConfig()
    {
        var t = fx.Qwen3;
        Assert.Equal(151669, t.VocabSize);
        Assert.Equal(151643, t.TokenToId("<|endoftext|>"));
        Assert.Equal(151644, t.TokenToId("<|im_start|>"));
        Assert.Equal(151645, t.EosId);
        Assert.Equal("<|im_end|>", t.EosToken);
        Assert.Equal(151643, t.PadId);
        Assert.Null(t.BosId);
        Assert.Null(t.TokenToId("no-such-token"));
        Assert.Null(t.IdToToken(-1));
        Assert.Null(t.IdToToken(10_000_000));
        Assert.Equal("<|im_end|>", t.IdToToken(151645));
        Assert.True(t.IsSpecial(151644));
        Assert.False(t.IsSpecial(785));
        // Matched as whole tokens wherever they occur, never split by BPE.
        var ids = t.Encode("x<|im_start|><|im_end|>y<|endoftext|>");
        Assert.Equal([t.TokenToId("x")!.Value, 151644, 151645, t.TokenToId("y")!.Value, 151643], ids);
        Assert.Equal("xy", t.Decode(ids, skipSpecialTokens: true));
        Assert.Equal("x<|im_start|><|im_end|>y<|endoftext|>", t.Decode(ids));
        // A near miss is plain text.
        Assert.DoesNotContain(151644, t.Encode("<|im_start|"));
        // Qwen3's post-processor adds nothing.
        Assert.Equal(t.Encode("hello"), t.Encode("hello", addSpecialTokens: true));
    }

    [Fact]
    public void Qwen3AstralLettersAreLettersAndNfcApplies()
    {
        var t = fx.Qwen3;
        // U+1D400 MATHEMATICAL BOLD CAPITAL A is a letter: it joins the following word (one pre-token), so the
        // result must equal the BPE of the whole word, not a punctuation split.
        var ids = t.Encode("\U0001D400bc");
        Assert.Equal("\U0001D400bc", t.Decode(ids));
        Assert.Equal(t.Encode("\u00E9"), t.Encode("e\u0301"));
    }

    [Fact]
    public void UnicodeNormalizerMatchesPythonUnicodedata()
    {
        int n = 0;
        foreach (var line in File.ReadLines(Path.Combine(AppContext.BaseDirectory, "Fixtures", "unicode", "normalization.jsonl")))
        {
            var e = JsonDocument.Parse(line).RootElement;
            string s = e.GetProperty("s").GetString()!;
            Assert.Equal(e.GetProperty("nfc").GetString(), UnicodeNormalizer.Normalize(s, NormalizationKind.Nfc));
            Assert.Equal(e.GetProperty("nfd").GetString(), UnicodeNormalizer.Normalize(s, NormalizationKind.Nfd));
            Assert.Equal(e.GetProperty("nfkc").GetString(), UnicodeNormalizer.Normalize(s, NormalizationKind.Nfkc));
            Assert.Equal(e.GetProperty("nfkd").GetString(), UnicodeNormalizer.Normalize(s, NormalizationKind.Nfkd));
            n++;
        }
        Assert.Equal(600, n);
    }

    [Theory]
    [InlineData("Hello world", new[] { 15496, 995 })]
    [InlineData("Hello, world!", new[] { 15496, 11, 995, 0 })]
    [InlineData(" the", new[] { 262 })]
    [InlineData("The", new[] { 464 })]
    [InlineData("<|endoftext|>", new[] { 50256 })]
    public void Gpt2KnownIds(string text, int[] expected)
    {
        Assert.Equal(expected, fx.Gpt2.Encode(text));
        Assert.Equal(text, fx.Gpt2.Decode(expected));
    }

    [Fact]
    public void Gpt2MatchesMicrosoftMLTokenizersOnEveryFixtureSentence()
    {
        // Independent oracle: Microsoft.ML.Tokenizers with byte-level BPE and GPT-2's split regex (see DESIGN.md).
        string dir = Path.Combine(TokenizerFixture.Dir, "gpt2");
        var vocab = JsonSerializer.Deserialize<Dictionary<string, int>>(File.ReadAllText(Path.Combine(dir, "encoder.json")))!;
        var merges = File.ReadLines(Path.Combine(dir, "vocab.bpe")).Where(l => l.Length > 0 && !l.StartsWith("#version", StringComparison.Ordinal)).ToList();
        var options = new Microsoft.ML.Tokenizers.BpeOptions(vocab)
        {
            Merges = merges,
            ByteLevel = true,
            PreTokenizer = new Microsoft.ML.Tokenizers.RegexPreTokenizer(
                new System.Text.RegularExpressions.Regex(@"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"), null),
        };
        var oracle = Microsoft.ML.Tokenizers.BpeTokenizer.Create(options);
        int compared = 0;
        foreach (var (text, _) in fx.Expected)
        {
            if (text.Contains("<|", StringComparison.Ordinal)) continue;
            var expected = oracle.EncodeToIds(text, considerPreTokenization: true, considerNormalization: true).ToArray();
            Assert.True(expected.SequenceEqual(fx.Gpt2.Encode(text)), $"{JsonSerializer.Serialize(text)}: oracle [{string.Join(",", expected)}] ours [{string.Join(",", fx.Gpt2.Encode(text))}]");
            compared++;
        }
        Assert.True(compared > 290);
    }

    [Fact]
    public void Gpt2VocabAndSpecials()
    {
        Assert.Equal(50257, fx.Gpt2.VocabSize);
        Assert.Equal(50000, fx.Gpt2.MergeCount);
        Assert.Equal(50256, fx.Gpt2.EosId);
        var explicitLoad = TextTokenizer.LoadGpt2(Path.Combine(TokenizerFixture.Dir, "gpt2", "encoder.json"), Path.Combine(TokenizerFixture.Dir, "gpt2", "vocab.bpe"));
        Assert.Equal(fx.Gpt2.Encode("Round trip: ünïcödé 😀 text\n\n"), explicitLoad.Encode("Round trip: ünïcödé 😀 text\n\n"));
        Assert.Equal("Round trip: ünïcödé 😀 text\n\n", explicitLoad.Decode(explicitLoad.Encode("Round trip: ünïcödé 😀 text\n\n")));
    }

    // ------------------------------------------------------------------ trainer

    static string RandomUnicode(Random rng, int length)
    {
        int[][] ranges = [[0x20, 0x7E], [0x09, 0x0D], [0xA0, 0x17F], [0x300, 0x36F], [0x391, 0x3C9], [0x400, 0x4FF], [0x4E00, 0x4FFF],
            [0xAC00, 0xAC80], [0x1F300, 0x1F64F], [0x1D400, 0x1D4FF], [0x20000, 0x2007F], [0xE000, 0xE010], [0x0, 0x1F]];
        var sb = new StringBuilder();
        for (int i = 0; i < length; i++)
        {
            if (rng.Next(40) == 0) { sb.Append(new[] { "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|im_end", "\r\n" }[rng.Next(5)]); continue; }
            var r = ranges[rng.Next(ranges.Length)];
            sb.Append(char.ConvertFromUtf32(rng.Next(r[0], r[1] + 1)));
        }
        return sb.ToString();
    }

    List<string> TrainingTexts() => fx.Expected.Select(e => e.Text).Concat(Enumerable.Range(0, 50).Select(i => RandomUnicode(new Random(i), 200))).ToList();

    [Fact]
    public void TrainerRespectsVocabSizeAndRoundTripsUnicode()
    {
        var result = BpeTrainer.Train(TrainingTexts(), 600);
        Assert.Equal(600, result.VocabSize);
        var tok = result.ToTokenizer();
        Assert.Equal(600, tok.VocabSize);
        Assert.Equal(600 - 256 - 3, tok.MergeCount);
        Assert.Equal(597, tok.TokenToId("<|endoftext|>"));
        Assert.Equal(599, tok.TokenToId("<|im_end|>"));
        Assert.Equal(597, tok.EosId);
        Assert.Equal(597, tok.PadId);
        var rng = new Random(1234);
        for (int i = 0; i < 300; i++)
        {
            string text = RandomUnicode(rng, rng.Next(0, 120));
            var ids = tok.Encode(text);
            Assert.All(ids, id => Assert.InRange(id, 0, 599));
            Assert.Equal(text, tok.Decode(ids));
        }
        Assert.Equal([598, 597, 599], tok.Encode("<|im_start|><|endoftext|><|im_end|>"));
        // Merges actually compress text seen in training.
        string sample = fx.Expected[0].Text;
        int n = tok.Encode(sample).Length, bytes = Encoding.UTF8.GetByteCount(sample);
        Assert.True(n * 3 < bytes * 2, $"{n} tokens for {bytes} bytes");
    }

    [Fact]
    public void TrainerStopsWhenNoPairIsFrequentEnough()
    {
        var result = BpeTrainer.Train(["ab ab ab"], 10_000);
        Assert.True(result.VocabSize < 10_000);
        Assert.Equal(result.VocabSize, result.ToTokenizer().VocabSize);
        Assert.Throws<ArgumentOutOfRangeException>(() => BpeTrainer.Train(["x"], 258));
    }

    [Fact]
    public void TrainerIsDeterministicAndIndependentOfTextOrder()
    {
        var texts = TrainingTexts();
        string a = BpeTrainer.Train(texts, 500).ToTokenizerJson();
        string b = BpeTrainer.Train(texts, 500).ToTokenizerJson();
        var shuffled = texts.ToList();
        new Random(7).Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(shuffled));
        string c = BpeTrainer.Train(shuffled, 500).ToTokenizerJson();
        Assert.Equal(a, b);
        Assert.Equal(a, c);
    }

    [Fact]
    public void TrainerSavedFilesReloadToTheSameTokenizer()
    {
        var result = BpeTrainer.Train(TrainingTexts(), 700);
        string dir = Path.Combine(Path.GetTempPath(), "bitdistill-tok-" + Guid.NewGuid().ToString("N"));
        try
        {
            result.Save(dir);
            Assert.Equal(new[] { "tokenizer.json", "tokenizer_config.json" }, Directory.GetFiles(dir).Select(f => Path.GetFileName(f)).Order().ToArray());
            var fromDir = TextTokenizer.Load(dir);
            var fromFile = TextTokenizer.Load(Path.Combine(dir, "tokenizer.json"));
            var inMemory = result.ToTokenizer();
            Assert.Equal(inMemory.VocabSize, fromDir.VocabSize);
            Assert.Equal(inMemory.EosId, fromDir.EosId);
            for (int id = 0; id < inMemory.VocabSize; id++) Assert.Equal(inMemory.IdToToken(id), fromDir.IdToToken(id));
            foreach (var text in TrainingTexts().Take(100))
            {
                Assert.Equal(inMemory.Encode(text), fromDir.Encode(text));
                Assert.Equal(inMemory.Encode(text), fromFile.Encode(text));
            }
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    // ------------------------------------------------------------------ malformed files

    internal static string WriteTemp(string name, string content)
    {
        string dir = Path.Combine(Path.GetTempPath(), "bitdistill-tok-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, name);
        File.WriteAllText(path, content);
        return path;
    }

    const string TinyModel = """{"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}""";

    [Theory]
    [InlineData("""{"model": {"type": "WordPiece", "vocab": {"a": 0}}}""", "model.type")]
    [InlineData("""{"model": {"type": "Unigram", "vocab": [["a", 0.0]]}}""", "model.type")]
    [InlineData("""{"pre_tokenizer": {"type": "ByteLevel"}}""", "'model'")]
    [InlineData("""{"model": {"type": "BPE", "merges": []}, "pre_tokenizer": {"type": "ByteLevel"}}""", "model.vocab")]
    [InlineData("""{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a c"]}, "pre_tokenizer": {"type": "ByteLevel"}}""", "model.merges[0]")]
    [InlineData("""{"model": {"type": "BPE", "vocab": {"a": "x"}, "merges": []}, "pre_tokenizer": {"type": "ByteLevel"}}""", "model.vocab[\"a\"]")]
    [InlineData("""{"model": TINY, "pre_tokenizer": {"type": "Metaspace"}}""", "pre_tokenizer.type")]
    [InlineData("""{"model": TINY, "pre_tokenizer": {"type": "Whitespace"}, "decoder": null}""", "pre_tokenizer.type")]
    [InlineData("""{"model": TINY, "pre_tokenizer": null}""", "'pre_tokenizer'")]
    [InlineData("""{"model": TINY, "pre_tokenizer": {"type": "ByteLevel"}, "normalizer": {"type": "BertNormalizer"}}""", "normalizer.type")]
    [InlineData("""{"model": TINY, "pre_tokenizer": {"type": "ByteLevel"}, "added_tokens": [{"content": "<x>"}]}""", "added_tokens[0].id")]
    [InlineData("""{"model": TINY, "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(unclosed"}, "behavior": "Isolated"}, "decoder": {"type": "ByteLevel"}}""", "pre_tokenizer.pattern")]
    [InlineData("""{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [], "byte_fallback": true}, "pre_tokenizer": {"type": "ByteLevel"}}""", "model.byte_fallback")]
    [InlineData("""{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [], "byte_fallback": true}, "decoder": {"type": "WordPiece"}}""", "decoder.type")]
    public void MalformedTokenizerJsonNamesFileAndField(string json, string field)
    {
        string path = WriteTemp("tokenizer.json", json.Replace("TINY", TinyModel));
        var e = Assert.Throws<TokenizerFormatException>(() => TextTokenizer.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(field, e.Message);
    }

    [Fact]
    public void TruncatedTokenizerJsonIsAFormatError()
    {
        string full = File.ReadAllText(Path.Combine(TokenizerFixture.Dir, "qwen3", "tokenizer.json"));
        string path = WriteTemp("tokenizer.json", full[..(full.Length / 2)]);
        var e = Assert.Throws<TokenizerFormatException>(() => TextTokenizer.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("JSON", e.Message);
    }

    [Fact]
    public void MissingFilesAndBadConfigAreReported()
    {
        string missing = Path.Combine(Path.GetTempPath(), "no-such-tokenizer-" + Guid.NewGuid().ToString("N"), "tokenizer.json");
        var e = Assert.Throws<FileNotFoundException>(() => TextTokenizer.Load(missing));
        Assert.Contains(missing, e.Message);
        string emptyDir = Path.GetDirectoryName(WriteTemp("readme.txt", "x"))!;
        Assert.Contains("tokenizer.json", Assert.Throws<FileNotFoundException>(() => TextTokenizer.Load(emptyDir)).Message);

        string path = WriteTemp("tokenizer.json", "{\"model\": " + TinyModel + ", \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}");
        string config = Path.Combine(Path.GetDirectoryName(path)!, "tokenizer_config.json");
        File.WriteAllText(config, """{"eos_token": "<|nope|>"}""");
        var ce = Assert.Throws<TokenizerFormatException>(() => TextTokenizer.Load(path));
        Assert.Contains("eos_token", ce.Message);

        string merges = WriteTemp("merges.txt", "#version: 0.2\nĠ t\nbad line here\n");
        File.WriteAllText(Path.Combine(Path.GetDirectoryName(merges)!, "vocab.json"), """{"Ġ": 0, "t": 1, "Ġt": 2}""");
        var me = Assert.Throws<TokenizerFormatException>(() => TextTokenizer.Load(Path.GetDirectoryName(merges)!));
        Assert.Contains("line 3", me.Message);
        Assert.Contains(merges, me.Message);
    }
}
