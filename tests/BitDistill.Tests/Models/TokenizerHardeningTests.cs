using System.Text.Json.Nodes;
using BitDistill.Distill.Data;
using BitDistill.Models.Generation;
using BitDistill.Models.Tokenization;
using BitDistill.Tests.Cli;

namespace BitDistill.Tests.Models;

/// <summary>Hostile or mismatched tokenizers and untrusted text: huge ids are typed errors, a tokenizer that does not fit
/// the model is refused, ids the tokenizer does not know are shown, an empty corpus trains nothing, and special-token text in
/// data stays text unless --parse-special is asked for.</summary>
[Collection(SerialCollection.Name)]
public class TokenizerHardeningTests
{
    private static readonly string BaseDir = Path.Combine(AppContext.BaseDirectory, "data", "models", "base");
    private static readonly TextTokenizer Base = TextTokenizer.Load(BaseDir);

    private static JsonNode BaseJson() => JsonNode.Parse(File.ReadAllText(Path.Combine(BaseDir, "tokenizer.json")))!;

    [Fact]
    public void AVocabularyIdOfIntMaxIsATypedErrorNamingTheFileAndTheToken()
    {
        var json = BaseJson();
        json["model"]!["vocab"]!["a"] = int.MaxValue;
        var e = Assert.Throws<TokenizerFormatException>(() => TextTokenizer.FromJson(json.ToJsonString(), source: "huge/tokenizer.json"));
        Assert.Contains("huge/tokenizer.json", e.Message);
        Assert.Contains("\"a\"", e.Message);
        Assert.DoesNotContain('\n', e.Message);

        json = BaseJson();
        json["added_tokens"]![0]!["id"] = int.MaxValue;
        e = Assert.Throws<TokenizerFormatException>(() => TextTokenizer.FromJson(json.ToJsonString(), source: "huge/tokenizer.json"));
        Assert.Contains("<|endoftext|>", e.Message);
    }

    [Fact]
    public void GeneratedIdsTheTokenizerDoesNotKnowAreShownNotDropped()
    {
        var decoder = new IncrementalDecoder(Base);
        string text = decoder.Push(Base.TokenToId("a")!.Value) + decoder.Push(Base.VocabSize + 7) + decoder.Flush();
        Assert.Equal($"a<unk:{Base.VocabSize + 7}>", text);
        Assert.Contains($"<unk:{Base.VocabSize + 7}>", Base.Decode([Base.VocabSize + 7], showUnassigned: true));
        Assert.Equal("", Base.Decode([Base.VocabSize + 7])); // Hugging Face's decode skips them; only generation shows them
    }

    [Fact]
    public void ATokenizerLargerThanTheModelsVocabularyIsRefusedWhenTheyArePaired()
    {
        // "!" encodes to an id below the tiny model's 97, so only the pairing check can notice the 8,192-id tokenizer.
        var (code, _, err) = CliRunner.Run("generate", "--model", TestUtil.FixturePath("qwen", "qwen3-tied"), "--tokenizer", BaseDir, "--prompt", "!", "--max-new-tokens", "1");
        Assert.Equal(2, code);
        Assert.Contains("8192", err);
        Assert.Contains("vocab_size 97", err);
    }

    [Theory]
    [InlineData("")]
    [InlineData("  \n\t\n   \n")]
    public void TokenizerTrainOnAnEmptyOrWhitespaceFileIsRefused(string content)
    {
        var dir = Directory.CreateTempSubdirectory("bitdistill-tok-empty").FullName;
        try
        {
            var file = Path.Combine(dir, "empty.txt");
            File.WriteAllText(file, content);
            var (code, _, err) = CliRunner.Run("tokenizer", "train", "--vocab-size", "300", "--output", Path.Combine(dir, "out"), file);
            Assert.Equal(2, code);
            Assert.Contains(file, err);
            Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("bitdistill", StringComparison.Ordinal));
            Assert.False(File.Exists(Path.Combine(dir, "out", "tokenizer.json")));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void SpecialTokenTextInTaskRowsStaysTextUnlessParsingIsAskedFor()
    {
        int eos = Base.EosId!.Value;
        var row = new TaskExample("great <|endoftext|> film", null, "positive", "row 1");
        var labels = LabelWords.Default(["negative", "positive"]);
        var plain = new TaskEncoder(Base, TaskKind.Classification, 64, labels).Encode(row);
        Assert.DoesNotContain(eos, plain.Prompt);
        var parsed = new TaskEncoder(Base, TaskKind.Classification, 64, labels) { ParseSpecialTokens = true }.Encode(row);
        Assert.Contains(eos, parsed.Prompt);
    }

    [Fact]
    public void SpecialTokenTextInACorpusStaysTextUnlessParsingIsAskedFor()
    {
        int eos = Base.EosId!.Value;
        var plain = TokenDataset.FromDocuments(["one <|endoftext|> two"], Base, eos, "corpus");
        Assert.Equal(1, plain.Tokens.Count(t => t == eos)); // only the separator
        var parsed = TokenDataset.FromDocuments(["one <|endoftext|> two"], Base, eos, "corpus", parseSpecialTokens: true);
        Assert.Equal(2, parsed.Tokens.Count(t => t == eos));
    }

    [Fact]
    public void TokenizeParsesSpecialTokenTextOnlyWithParseSpecial()
    {
        var dir = Directory.CreateTempSubdirectory("bitdistill-tok-special").FullName;
        try
        {
            var input = Path.Combine(dir, "in.jsonl");
            File.WriteAllText(input, "{\"text\": \"a<|endoftext|>b\"}\n");
            string eos = Base.EosId!.Value.ToString(System.Globalization.CultureInfo.InvariantCulture);
            var (code, stdout, err) = CliRunner.Run("tokenize", "--tokenizer", BaseDir, "--jsonl", input);
            Assert.True(code == 0, err);
            Assert.DoesNotContain(eos, stdout);
            (code, stdout, err) = CliRunner.Run("tokenize", "--tokenizer", BaseDir, "--jsonl", input, "--parse-special");
            Assert.True(code == 0, err);
            Assert.Contains("," + eos + ",", stdout);
        }
        finally { Directory.Delete(dir, true); }
    }
}
