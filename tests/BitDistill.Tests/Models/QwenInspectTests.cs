using BitDistill.Cli;
using static BitDistill.Tests.TestUtil;

namespace BitDistill.Tests.Models;

/// <summary>`bitdistill inspect` on the Qwen fixtures and the published configs.</summary>
// Serial: swaps the process-wide Console.Error.
[Collection(SerialCollection.Name)]
public sealed class QwenInspectTests
{
    [Fact]
    public void InspectReportsArchitectureCountsDTypesAndFiles()
    {
        var w = new StringWriter();
        InspectCommand.Inspect(FixturePath("qwen", "qwen3-tied"), w);
        var s = w.ToString();
        Assert.Contains("architecture  qwen3", s);
        Assert.Contains("4 query / 2 key-value, head_dim 16", s);
        Assert.Contains("BF16 (35 tensors", s);
        Assert.Contains("matches config.json", s);
        Assert.Contains("model.safetensors", s);
        Assert.Contains("tied: counted in embeddings", s);
    }

    [Theory]
    [InlineData("qwen3-0.6b.config.json", "596,049,920")]
    [InlineData("qwen2.5-0.5b.config.json", "494,032,768")]
    public void InspectOfAPublishedConfigCountsParameters(string file, string total)
    {
        var w = new StringWriter();
        InspectCommand.Inspect(FixturePath("configs", file), w);
        var s = w.ToString();
        Assert.Contains(total, s);
        Assert.Contains("checkpoint    none (config only)", s);
    }

    [Fact]
    public void InspectOfAMissingFolderFailsWithOneLine()
    {
        var err = new StringWriter();
        var old = Console.Error;
        Console.SetError(err);
        try { Assert.Equal(ErrorPolicy.BadInput, Program.Main(["inspect", "/nonexistent/model"])); }
        finally { Console.SetError(old); }
        Assert.StartsWith("bitdistill inspect: model folder '/nonexistent/model' does not exist", err.ToString());
    }
}
