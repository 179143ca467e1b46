using System.Text;
using System.Text.Json;
using BitDistill.Models.Tokenization;

namespace BitDistill.Tests;

/// <summary>Shared tokenizers loaded once (the Qwen3 file is 5 MB).</summary>
public sealed class TokenizerFixture
{
    /// <summary>Folder of the tokenizer fixtures in the test output.</summary>
    public static string Dir => Path.Combine(AppContext.BaseDirectory, "Fixtures", "tokenizers");

    /// <summary>The real Qwen3 tokenizer.</summary>
    public TextTokenizer Qwen3 { get; } = TextTokenizer.Load(Path.Combine(Dir, "qwen3"));

    /// <summary>GPT-2 from encoder.json + vocab.bpe.</summary>
    public TextTokenizer Gpt2 { get; } = TextTokenizer.Load(Path.Combine(Dir, "gpt2"));

    /// <summary>The lines of expected.jsonl.</summary>
    public IReadOnlyList<(string Text, int[] Ids)> Expected { get; } = File.ReadLines(Path.Combine(Dir, "qwen3", "expected.jsonl"))
        .Where(l => l.Length > 0)
        .Select(l => JsonDocument.Parse(l).RootElement)
        .Select(e => (e.GetProperty("text").GetString()!, e.GetProperty("ids").EnumerateArray().Select(x => x.GetInt32()).ToArray()))
        .ToList();
}

/// <summary>Tokenizer parity with Hugging Face semantics, trainer round trips, file errors and the CLI verbs.</summary>
public class TokenizerTests(TokenizerFixture fx) : IClassFixture<TokenizerFixture>
{
    [Fact]
    public void Qwen3_MatchesEveryExpectedLine()
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
    public void Qwen3_DecodeRoundTripsExpectedLines()
    {
        foreach (var (text, ids) in fx.Expected)
            Assert.Equal(UnicodeNormalizer.Normalize(text, NormalizationKind.Nfc), fx.Qwen3.Decode(ids));
    }

    [Fact]
    public void Qwen3_SpecialTokensAndConfig()
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
    public void Qwen3_AstralLettersAreLettersAndNfcApplies()
    {
        var t = fx.Qwen3;
        // U+1D400 MATHEMATICAL BOLD CAPITAL A is a letter: it joins the following word (one pre-token), so the
        // result must equal the BPE of the whole word, not a punctuation split.
        var ids = t.Encode("\U0001D400bc");
        Assert.Equal("\U0001D400bc", t.Decode(ids));
        Assert.Equal(t.Encode("\u00E9"), t.Encode("e\u0301"));
    }

    [Theory]
    [InlineData("Hello world", new[] { 15496, 995 })]
    [InlineData("Hello, world!", new[] { 15496, 11, 995, 0 })]
    [InlineData(" the", new[] { 262 })]
    [InlineData("The", new[] { 464 })]
    [InlineData("<|endoftext|>", new[] { 50256 })]
    public void Gpt2_KnownIds(string text, int[] expected)
    {
        Assert.Equal(expected, fx.Gpt2.Encode(text));
        Assert.Equal(text, fx.Gpt2.Decode(expected));
    }

    [Fact]
    public void Gpt2_VocabAndSpecials()
    {
        Assert.Equal(50257, fx.Gpt2.VocabSize);
        Assert.Equal(50000, fx.Gpt2.MergeCount);
        Assert.Equal(50256, fx.Gpt2.EosId);
        var explicitLoad = TextTokenizer.LoadGpt2(Path.Combine(TokenizerFixture.Dir, "gpt2", "encoder.json"), Path.Combine(TokenizerFixture.Dir, "gpt2", "vocab.bpe"));
        Assert.Equal(fx.Gpt2.Encode("Round trip: ünïcödé 😀 text\n\n"), explicitLoad.Encode("Round trip: ünïcödé 😀 text\n\n"));
        Assert.Equal("Round trip: ünïcödé 😀 text\n\n", explicitLoad.Decode(explicitLoad.Encode("Round trip: ünïcödé 😀 text\n\n")));
    }
}
