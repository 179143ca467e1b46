using System.Text.Json;
using BitDistill.Cli;
using BitDistill.Tensors.SafeTensors;
using static BitDistill.Tests.TestUtil;

namespace BitDistill.Tests.Models;

/// <summary>`bitdistill generate --prompt-ids … --greedy --json` on Gemma 3 checkpoints: the Qwen output format, and the tokens and
/// prompt logits of the independent PyTorch reference's greedy decoding (tests/fixtures/make_gemma3_fixtures.py).</summary>
public sealed class Gemma3GenerateTests
{
    [Theory]
    [InlineData("gemma3-text-kv1")]
    [InlineData("gemma3-mm-kv2")]
    public void GreedyJsonMatchesTheReferenceDecoding(string name)
    {
        using var reference = SafeTensorsFile.Open(FixturePath("gemma3", name, "reference.safetensors"));
        var prompt = reference.Load("generate/prompt_ids").ToArray<long>();
        var expected = reference.Load("generate/generated_ids").ToArray<long>().Select(x => (int)x).ToArray();
        var lastLogits = reference.Load("generate/prompt_last_logits").ToFloatArray();
        var o = new StringWriter(); var e = new StringWriter();
        int code = GenerateCommand.Run(new() { Model = FixturePath("gemma3", name), PromptIds = string.Join(",", prompt), MaxNewTokens = expected.Length, Greedy = true, Json = true }, o, e);
        Assert.True(code == 0, e.ToString());
        Assert.Equal("", e.ToString());
        var lines = o.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        using var doc = JsonDocument.Parse(lines[0]);
        var root = doc.RootElement;
        Assert.Equal(["prompt_ids", "generated_ids", "top5", "stop_reason"], root.EnumerateObject().Select(p => p.Name).ToArray());
        Assert.Equal(prompt.Select(x => (int)x), root.GetProperty("prompt_ids").EnumerateArray().Select(x => x.GetInt32()));
        Assert.Equal(expected, root.GetProperty("generated_ids").EnumerateArray().Select(x => x.GetInt32()).ToArray());
        Assert.Equal("max_new_tokens", root.GetProperty("stop_reason").GetString());
        var top = root.GetProperty("top5");
        var ids = top.GetProperty("ids").EnumerateArray().Select(x => x.GetInt32()).ToArray();
        var logits = top.GetProperty("logits").EnumerateArray().Select(x => x.GetSingle()).ToArray();
        var want = Enumerable.Range(0, lastLogits.Length).OrderByDescending(i => lastLogits[i]).ThenBy(i => i).Take(5).ToArray();
        Assert.Equal(want, ids);
        for (int i = 0; i < 5; i++) Assert.True(Math.Abs(lastLogits[ids[i]] - logits[i]) <= 1e-4 * Math.Abs(lastLogits[want[0]]), $"top5 logit {i}");
    }
}
