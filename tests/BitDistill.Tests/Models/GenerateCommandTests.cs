using System.Text.Json;
using BitDistill.Cli;
using static BitDistill.Tests.TestUtil;

namespace BitDistill.Tests.Models;

/// <summary>`bitdistill generate`: the scripted --json interface (one object, nothing else on stdout), streamed text, and one-line errors.</summary>
// Serial: one test runs Program.Main, which writes to the process-wide Console.Error.
[Collection(SerialCollection.Name)]
public sealed class GenerateCommandTests
{
    private static (int Code, string Out, string Err) Run(GenerateCommand.Args a)
    {
        var o = new StringWriter(); var e = new StringWriter();
        int code = GenerateCommand.Run(a, o, e);
        return (code, o.ToString(), e.ToString());
    }

    private static string Model => FixturePath("qwen", "qwen3-tied");

    [Fact]
    public void JsonPrintsOneObjectWithPromptGeneratedAndTop5()
    {
        var (code, stdout, stderr) = Run(new() { Model = Model, PromptIds = "5,17,33", MaxNewTokens = 12, Greedy = true, Json = true });
        Assert.Equal(0, code);
        Assert.Equal("", stderr);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        using var doc = JsonDocument.Parse(lines[0]);
        var root = doc.RootElement;
        Assert.Equal([5, 17, 33], root.GetProperty("prompt_ids").EnumerateArray().Select(x => x.GetInt32()));
        var generated = root.GetProperty("generated_ids").EnumerateArray().Select(x => x.GetInt32()).ToArray();
        Assert.InRange(generated.Length, 1, 12);
        var top = root.GetProperty("top5");
        var ids = top.GetProperty("ids").EnumerateArray().Select(x => x.GetInt32()).ToArray();
        var logits = top.GetProperty("logits").EnumerateArray().Select(x => x.GetSingle()).ToArray();
        Assert.Equal(5, ids.Length);
        Assert.Equal(5, logits.Length);
        Assert.Equal(logits.OrderDescending(), logits);
        Assert.Equal(ids[0], generated[0]); // greedy: the first new token is the top logit
        Assert.False(root.TryGetProperty("text", out _)); // no tokenizer was needed or loaded

        // the same numbers as the library's full forward
        var model = BitDistill.Models.Qwen.QwenModel.FromPretrained(Model);
        var full = model.Forward(BitDistill.Tensors.Tensor.FromArray(new long[] { 5, 17, 33 }, [1, 3])).Value.ToFloatArray();
        var last = full.AsSpan(2 * model.Config.VocabSize, model.Config.VocabSize);
        for (int i = 0; i < 5; i++) Assert.True(Math.Abs(last[ids[i]] - logits[i]) <= 1e-4 * Math.Abs(logits[0]), $"top5 logit {i}");
    }

    [Fact]
    public void StreamsTextWithATokenizer()
    {
        // a tokenizer that fits the fixture model's 97-id vocabulary (the 151,669-id Qwen3 one is refused)
        var tokenizer = TinyTokenizerFolder();
        var (code, stdout, stderr) = Run(new() { Model = Model, Prompt = "a", Tokenizer = tokenizer, MaxNewTokens = 4, Json = true });
        Assert.Equal(0, code);
        Assert.Contains("\"text\":", stdout);
        (code, stdout, stderr) = Run(new() { Model = Model, Prompt = "a", Tokenizer = tokenizer, MaxNewTokens = 4, Seed = 3 });
        Assert.Equal(0, code);
        Assert.EndsWith("\n", stdout);
        Assert.Contains("new", stderr);
    }

    [Theory]
    [InlineData(null, null, "give exactly one of --prompt TEXT and --prompt-ids IDS")]
    [InlineData("hi", "1,2", "give exactly one of --prompt TEXT and --prompt-ids IDS")]
    [InlineData(null, "1,97", "--prompt-ids: id 97 (item 2) is outside the vocabulary: vocab_size is 97")]
    [InlineData(null, "1,x", "--prompt-ids: 'x' (item 2) is not a token id")]
    [InlineData(null, "", "--prompt-ids: '' (item 1) is not a token id")]
    [InlineData("hi", null, "tokenizer.json: not found")]
    public void BadInputFailsWithOneLineNamingTheProblem(string? prompt, string? ids, string expected)
    {
        var (code, stdout, stderr) = Run(new() { Model = Model, Prompt = prompt, PromptIds = ids, Json = true });
        Assert.Equal(ErrorPolicy.BadInput, code);
        Assert.Equal("", stdout);
        Assert.Contains(expected, stderr);
        Assert.StartsWith("bitdistill generate: ", stderr);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void MissingModelFolderAndBadSamplingValuesFail()
    {
        var (code, _, stderr) = Run(new() { Model = "/nonexistent/model", PromptIds = "1", Json = true });
        Assert.Equal(ErrorPolicy.BadInput, code);
        Assert.Equal("bitdistill generate: model folder '/nonexistent/model' does not exist", stderr.Trim());
        (code, _, stderr) = Run(new() { Model = Model, PromptIds = "1", Json = true, TopP = 0 });
        Assert.Equal(ErrorPolicy.BadInput, code);
        Assert.Contains("--top-p", stderr);
        Assert.Equal(ErrorPolicy.BadInput, Program.Main(["generate", "--model", Model, "--prompt-ids", "1", "--max-new-tokens", "-1", "--json"]));
    }
}
