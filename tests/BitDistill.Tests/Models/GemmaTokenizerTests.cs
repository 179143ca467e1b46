using System.Text.Json;
using BitDistill.Models.Tokenization;

namespace BitDistill.Tests;

/// <summary>The SentencePiece-style BPE family on the real Gemma 3 tokenizer: ids equal Hugging Face's on every expected line.</summary>
public class GemmaTokenizerTests(GemmaTokenizerFixture fx) : IClassFixture<GemmaTokenizerFixture>
{
    [Fact]
    public void Gemma3MatchesEveryExpectedLine()
    {
        Assert.Equal(334, fx.Expected.Count);
        var failures = new List<string>();
        foreach (var (text, ids) in fx.Expected)
        {
            var got = fx.Gemma3.Encode(text);
            if (!got.SequenceEqual(ids))
                failures.Add($"{JsonSerializer.Serialize(text)}: expected [{string.Join(",", ids)}] got [{string.Join(",", got)}]");
        }
        Assert.True(failures.Count == 0, $"{failures.Count} of {fx.Expected.Count} lines differ:\n" + string.Join("\n", failures.Take(20)));
    }

    [Fact]
    public void CuttingWordsBeforeSpaceMarksGivesTheIdsOfMergingThemWhole()
    {
        var model = fx.Gemma3.Model;
        Assert.True(model.SplitsAtSpaceMarks);
        // the one vocabulary token with "x▁" inside (">▁</") must keep its occurrences whole; unknown and byte-fallback
        // characters next to cuts; runs of marks; the expected lines themselves
        var words = new List<string>
        {
            "<b>▁</b>", "a>▁</b>▁c", ">▁</", "▁>▁</▁", "x\u0378▁y", "\u0378\u0379▁\u0378", "日本語▁テキスト▁▁▁end", "▁▁a▁▁▁b▁", "😀▁😀▁a",
            "tab\t▁new\nline▁" + new string('▁', 9) + "x",
        };
        words.AddRange(fx.Expected.Select(e => e.Text.Replace(' ', '\u2581')));
        var rng = new Random(5);
        string[] parts = ["▁", "▁▁", "the", ">", "</", "<", "a", "\u0378", "é", "😀", "ing", "x"];
        for (int i = 0; i < 300; i++) words.Add(string.Concat(Enumerable.Range(0, rng.Next(1, 14)).Select(_ => parts[rng.Next(parts.Length)])));
        foreach (var w in words)
        {
            var cut = new List<int>();
            model.EncodeWord(w, cut);
            Assert.True(model.EncodeWhole(w).SequenceEqual(cut), $"\"{w}\": whole [{string.Join(",", model.EncodeWhole(w))}], cut [{string.Join(",", cut)}]");
        }
    }

    [Fact]
    public void Gemma3DecodeRoundTripsEveryExpectedLineExceptLiteralSpaceMarks()
    {
        int literal = 0;
        foreach (var (text, ids) in fx.Expected)
        {
            // A literal "▁" in the text decodes as a space, by the tokenizer's design (README of the fixture).
            if (text.Contains('\u2581')) { literal++; Assert.Equal(text.Replace('\u2581', ' '), fx.Gemma3.Decode(ids)); continue; }
            Assert.Equal(text, fx.Gemma3.Decode(ids));
        }
        Assert.Equal(2, literal);
    }

    [Fact]
    public void Gemma3SpecialTokensByteFallbackAndTemplate()
    {
        var t = fx.Gemma3;
        Assert.True(t.IsSentencePieceStyle);
        Assert.False(new TokenizerFixture().Qwen3.IsSentencePieceStyle);
        Assert.Equal(262145, t.VocabSize);
        Assert.Equal(2, t.BosId);
        Assert.Equal(0, t.PadId);
        Assert.Equal(106, t.EosId); // tokenizer_config: <end_of_turn>
        Assert.True(t.IsSpecial(105));
        Assert.False(t.IsSpecial(200)); // <b> is an added token, not special
        // No dummy prefix: "Hello" and " Hello" differ.
        Assert.Equal([9259], t.Encode("Hello"));
        Assert.Equal([26352], t.Encode(" Hello"));
        // Byte fallback: U+0000 and an astral character missing from the vocabulary become <0xNN> tokens (238 + NN).
        Assert.Equal([238], t.Encode("\u0000"));
        Assert.Equal([478, 382, 379, 374], t.Encode("\U00010348"));
        Assert.Equal("\U00010348", t.Decode([478, 382, 379, 374]));
        // The template adds <bos>; special tokens parse unless asked not to.
        Assert.Equal([2, 9259], t.Encode("Hello", addSpecialTokens: true));
        Assert.Equal([105], t.Encode("<start_of_turn>"));
        Assert.DoesNotContain(105, t.Encode("<start_of_turn>", parseSpecialTokens: false));
        Assert.Equal("Hello", t.Decode([2, 9259], skipSpecialTokens: true));
        Assert.Equal("<bos>Hello", t.Decode([2, 9259]));
    }

    [Fact]
    public void ASmallSentencePieceBpeWithUnknownsFusesThemAndStripsAsItsDecoderSays()
    {
        // A hand-made SentencePiece-style file: no byte tokens, so a missing character is <unk> (fused), and a Prepend normalizer
        // plus Strip decoder (Llama 2 style) round-trip without the dummy prefix.
        string json = """
        {"model":{"type":"BPE","byte_fallback":true,"fuse_unk":true,"unk_token":"<unk>",
          "vocab":{"<unk>":0,"▁":1,"a":2,"b":3,"▁a":4,"ab":5,"▁ab":6},"merges":[["a","b"],["▁","ab"],["▁","a"]]},
         "normalizer":{"type":"Sequence","normalizers":[{"type":"Prepend","prepend":"▁"},{"type":"Replace","pattern":{"String":" "},"content":"▁"}]},
         "pre_tokenizer":null,
         "decoder":{"type":"Sequence","decoders":[{"type":"Replace","pattern":{"String":"▁"},"content":" "},{"type":"ByteFallback"},{"type":"Fuse"},{"type":"Strip","content":" ","start":1,"stop":0}]}}
        """;
        var t = TextTokenizer.FromJson(json);
        Assert.True(t.IsSentencePieceStyle);
        Assert.Equal([6, 4], t.Encode("ab a"));
        Assert.Equal([6, 0, 3], t.Encode("abxyb"));
        Assert.Equal("ab a", t.Decode(t.Encode("ab a")));
    }

    [Fact]
    public void BenchReportsEncodingSpeedForBothFamilies()
    {
        var o = new StringWriter();
        BitDistill.Cli.BenchCommand.RunTokenizers([new TokenizerFixture().Qwen3, fx.Gemma3],
            Path.Combine(AppContext.BaseDirectory, "data", "corpus", "austen.train.txt.gz"), quick: true, o);
        var rows = o.ToString().Split('\n').Where(l => l.StartsWith("| ", StringComparison.Ordinal) && !l.StartsWith("| tokenizer", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, rows.Count);
        Assert.Contains("byte-level BPE", rows[0]);
        Assert.Contains("SentencePiece-style BPE", rows[1]);
        foreach (var r in rows)
            Assert.True(double.Parse(r.Split('|', StringSplitOptions.TrimEntries)[4], System.Globalization.CultureInfo.InvariantCulture) > 0, r);
    }

    [Fact]
    public void TheGemmaTokenizerPairsWithTheTextModelDespiteItsOneMultimodalSpecialToken()
    {
        var config = BitDistill.Models.ModelRegistry.LoadConfig(Path.Combine(AppContext.BaseDirectory, "Fixtures", "configs", "gemma3-1b.config.json"));
        Assert.Equal(262145, fx.Gemma3.VocabSize);
        TokenizerPairing.Check(fx.Gemma3, config); // 262144 <image_soft_token> is special: accepted
        var small = config.WithField("vocab_size", System.Text.Json.Nodes.JsonValue.Create(262000));
        var e = Assert.Throws<TokenizerFormatException>(() => TokenizerPairing.Check(fx.Gemma3, small));
        Assert.Contains("262000", e.Message);
    }
}
