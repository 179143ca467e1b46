using System.Text.Json;
using System.Text.Json.Nodes;
using BitDistill.Cli;
using BitDistill.Distill.Data;
using BitDistill.Models;
using BitDistill.Models.Generation;
using static BitDistill.Tests.TestUtil;

namespace BitDistill.Tests.Models;

/// <summary>Model folders the project writes carry a generation_config.json as Hugging Face writes it (token ids, greedy
/// defaults), and generate takes its defaults from one, with flags overriding.</summary>
[Collection(SerialCollection.Name)]
public sealed class GenerationConfigTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bitdistill-gencfg").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void SavedModelFoldersGetAGenerationConfigWithTheTokenIdsAndGreedyDefaults()
    {
        var model = ModelRegistry.FromPretrained(FixturePath("qwen", "qwen3-tied"));
        var dir = Path.Combine(_dir, "saved");
        model.SavePretrained(dir);
        var o = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, GenerationConfig.FileName)))!.AsObject();
        Assert.False(o["do_sample"]!.GetValue<bool>());
        Assert.Equal(1.0, o["temperature"]!.GetValue<double>());
        Assert.Equal(1.0, o["top_p"]!.GetValue<double>());
        Assert.Equal(model.Config.EosTokenIds[0], o["eos_token_id"]!.GetValue<int>());

        // copying the tokenizer completes the ids the model config lacks (the base tokenizer's pad is <|endoftext|>, 8189)
        ModelFolders.CopyTokenizer(Path.Combine(AppContext.BaseDirectory, "data", "models", "base"), dir);
        var g = GenerationConfig.Load(dir)!;
        Assert.Equal(8189, g.PadTokenId);
        Assert.False(g.DoSample);
    }

    [Theory]
    [InlineData("{\"temperature\": 0}", "temperature")]
    [InlineData("{\"top_p\": 1.5}", "top_p")]
    [InlineData("{\"do_sample\": \"yes\"}", "do_sample")]
    [InlineData("{\"eos_token_id\": [1, -2]}", "eos_token_id[1]")]
    [InlineData("{\"max_new_tokens\": 1e40}", "max_new_tokens")]
    [InlineData("[1, 2", "not valid JSON")]
    public void ABadGenerationConfigIsATypedErrorNamingTheField(string json, string field)
    {
        File.WriteAllText(Path.Combine(_dir, GenerationConfig.FileName), json);
        var e = Assert.Throws<ModelConfigException>(() => GenerationConfig.Load(_dir));
        Assert.Contains(field, e.Message);
        Assert.Contains(GenerationConfig.FileName, e.Message);
    }

    private string ModelWith(string? generationConfig)
    {
        var dir = Path.Combine(_dir, "m" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        foreach (var f in Directory.GetFiles(FixturePath("qwen", "qwen3-tied"))) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        if (generationConfig is not null) File.WriteAllText(Path.Combine(dir, GenerationConfig.FileName), generationConfig);
        return dir;
    }

    private static int[] Generated(GenerateCommand.Args a)
    {
        var (o, e) = (new StringWriter(), new StringWriter());
        Assert.True(GenerateCommand.Run(a with { Json = true }, o, e) == 0, e.ToString());
        using var doc = JsonDocument.Parse(o.ToString());
        return doc.RootElement.GetProperty("generated_ids").EnumerateArray().Select(x => x.GetInt32()).ToArray();
    }

    [Fact]
    public void GenerateTakesItsDefaultsFromGenerationConfigAndFlagsOverrideThem()
    {
        var plain = ModelWith(null);
        var greedyFile = ModelWith("{\"do_sample\": false, \"max_new_tokens\": 3}");
        var greedy = Generated(new() { Model = plain, PromptIds = "5,17,33", MaxNewTokens = 3, Greedy = true });
        // the file makes decoding greedy and 3 tokens long whatever the seed
        Assert.Equal(greedy, Generated(new() { Model = greedyFile, PromptIds = "5,17,33", Seed = 1 }));
        Assert.Equal(greedy, Generated(new() { Model = greedyFile, PromptIds = "5,17,33", Seed = 2 }));
        // flags override: more tokens, and sampling as without the file
        var six = Generated(new() { Model = greedyFile, PromptIds = "5,17,33", MaxNewTokens = 6, Greedy = true });
        Assert.Equal(greedy, six.Take(greedy.Length));
        Assert.True(six.Length == 6 || six[^1] == 2, "stops only at 6 tokens or at eos_token_id 2");
        Assert.Equal(Generated(new() { Model = plain, PromptIds = "5,17,33", MaxNewTokens = 3, Seed = 7 }),
            Generated(new() { Model = greedyFile, PromptIds = "5,17,33", DoSample = true, TopK = 0, Seed = 7 })); // top_k 0: the file's is HF's 50
    }
}
