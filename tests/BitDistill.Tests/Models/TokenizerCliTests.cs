using System.Text.Json;
using BitDistill.Models.Tokenization;

namespace BitDistill.Tests;

/// <summary>The `tokenize` and `tokenizer train` verbs run in process. They swap the process-wide Console.Out/Error,
/// so they run in the serial collection.</summary>
[Collection(SerialCollection.Name)]
public class TokenizerCliTests(TokenizerFixture fx) : IClassFixture<TokenizerFixture>
{
    static (int Code, string Out, string Err) RunCli(params string[] args)
    {
        var oldOut = Console.Out;
        var oldErr = Console.Error;
        var o = new StringWriter();
        var e = new StringWriter();
        Console.SetOut(o);
        Console.SetError(e);
        try
        {
            int code = BitDistill.Cli.Program.Main(args);
            return (code, o.ToString(), e.ToString());
        }
        finally
        {
            Console.SetOut(oldOut);
            Console.SetError(oldErr);
        }
    }

    [Fact]
    public void CliTokenizePrintsExpectedIds()
    {
        var lines = fx.Expected.Select(x => JsonSerializer.Serialize(new { text = x.Text }));
        string input = TokenizerTests.WriteTemp("in.jsonl", string.Join("\n", lines) + "\n");
        // --parse-special: the expected ids are Hugging Face's encode(), which parses special-token text.
        var (code, stdout, stderr) = RunCli("tokenize", "--tokenizer", Path.Combine(TokenizerFixture.Dir, "qwen3", "tokenizer.json"), "--jsonl", input, "--parse-special");
        Assert.True(code == 0, stderr);
        var outLines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(fx.Expected.Count, outLines.Length);
        for (int i = 0; i < outLines.Length; i++)
        {
            using var doc = JsonDocument.Parse(outLines[i]);
            Assert.Equal(["text", "ids"], doc.RootElement.EnumerateObject().Select(p => p.Name).ToArray());
            Assert.Equal(fx.Expected[i].Text, doc.RootElement.GetProperty("text").GetString());
            Assert.Equal(fx.Expected[i].Ids, doc.RootElement.GetProperty("ids").EnumerateArray().Select(x => x.GetInt32()).ToArray());
        }
    }

    [Fact]
    public void CliTokenizeWithTheGzippedGemmaTokenizerPrintsExpectedIds()
    {
        var expected = new GemmaTokenizerFixture().Expected;
        string input = TokenizerTests.WriteTemp("in.jsonl", string.Join("\n", expected.Select(x => JsonSerializer.Serialize(new { text = x.Text }))) + "\n");
        var (code, stdout, stderr) = RunCli("tokenize", "--tokenizer", GemmaTokenizerFixture.Dir, "--jsonl", input, "--parse-special");
        Assert.True(code == 0, stderr);
        var outLines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(expected.Count, outLines.Length);
        for (int i = 0; i < outLines.Length; i++)
        {
            using var doc = JsonDocument.Parse(outLines[i]);
            Assert.Equal(expected[i].Ids, doc.RootElement.GetProperty("ids").EnumerateArray().Select(x => x.GetInt32()).ToArray());
        }
    }

    [Fact]
    public void CliErrorsAreOneLineWithNonZeroExit()
    {
        string qwen = Path.Combine(TokenizerFixture.Dir, "qwen3");
        string bad = TokenizerTests.WriteTemp("bad.jsonl", "{\"text\": \"ok\"}\n{\"text\": 5}\n");
        var (code, _, err) = RunCli("tokenize", "--tokenizer", qwen, "--jsonl", bad);
        Assert.NotEqual(0, code);
        Assert.Contains(bad + ":2", err);
        Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));

        (code, _, err) = RunCli("tokenize", "--tokenizer", qwen, "--jsonl", bad + ".missing");
        Assert.NotEqual(0, code);
        Assert.Contains(bad + ".missing", err);
        Assert.DoesNotContain("   at ", err);

        (code, _, err) = RunCli("tokenizer", "train", "--vocab-size", "100", bad);
        Assert.NotEqual(0, code);
        Assert.Contains("--vocab-size", err);
    }

    [Fact]
    public void CliTokenizerTrainWritesLoadableTokenizer()
    {
        string text = TokenizerTests.WriteTemp("corpus.txt", string.Join("\n", fx.Expected.Select(e => e.Text)));
        string jsonl = TokenizerTests.WriteTemp("corpus.jsonl.gz", "");
        using (var gz = new System.IO.Compression.GZipStream(File.Create(jsonl), System.IO.Compression.CompressionLevel.Fastest))
        using (var w = new StreamWriter(gz))
            foreach (var e in fx.Expected) w.WriteLine(JsonSerializer.Serialize(new { text = e.Text, other = 1 }));
        string outDir = Path.Combine(Path.GetDirectoryName(text)!, "out");
        var (code, _, err) = RunCli("tokenizer", "train", "--vocab-size", "800", "--output", outDir, text, jsonl);
        Assert.True(code == 0, err);
        Assert.Contains("merges", err);
        var tok = TextTokenizer.Load(outDir);
        Assert.Equal(800, tok.VocabSize);
        foreach (var (t, _) in fx.Expected) Assert.Equal(t, tok.Decode(tok.Encode(t)));
    }
}
