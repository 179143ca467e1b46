using System.Text;
using System.Text.Json.Nodes;
using BitDistill.Models;
using BitDistill.Models.BitNet;
using BitDistill.Models.Generation;
using BitDistill.Models.Tokenization;

namespace BitDistill.Tests.Models;

/// <summary>Fuzzing of config.json (with the "bitnet" object, its quantization_config and generation_config.json) and of
/// tokenizer.json + tokenizer_config.json, like the safetensors fuzz test: valid files mutated by truncation, byte flips,
/// type swaps, huge and negative numbers and deep nesting must load or fail with the project's typed error naming the file,
/// within a time bound per case — never IndexOutOfRange, NullReference, OutOfMemory, InvalidCast or a hang.</summary>
public sealed class ConfigFuzzTests : IDisposable
{
    private static readonly TimeSpan PerCase = TimeSpan.FromSeconds(10);
    private readonly string _dir = Directory.CreateTempSubdirectory("bitdistill-fuzz").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    // Values that break naive readers: wrong types, sizes that overflow int and shape arithmetic, negatives, deep nesting.
    private static readonly string[] Hostile =
    [
        "null", "true", "\"x\"", "\"\"", "[]", "{}", "[1,2]", "{\"type\": \"BPE\"}", "0", "-1", "-5", "1.5", "1e300", "-1e300", "2147483647",
        "2147483648", "-2147483648", "9223372036854775807", "18446744073709551616", "1073741824", "65536", "NaN", "\"NaN\"", "\"Infinity\"", Deep,
    ];
    private const string Deep = "@@DEEP@@";

    private static string Mutate(string text, Random rng, Func<string, bool> preferField)
    {
        switch (rng.Next(4))
        {
            case 0: // truncation
                return text[..rng.Next(0, text.Length)];
            case 1: // byte flips, biased to JSON's structural characters
            {
                var b = Encoding.UTF8.GetBytes(text);
                for (int k = rng.Next(1, 4); k > 0; k--)
                {
                    int pos = rng.Next(b.Length);
                    b[pos] = rng.Next(3) switch { 0 => (byte)rng.Next(256), 1 => (byte)"0123456789[]{},:\"-.e"[rng.Next(19)], _ => (byte)(b[pos] ^ (1 << rng.Next(8))) };
                }
                return Encoding.UTF8.GetString(b);
            }
            default: // one or two fields replaced by a hostile value
            {
                var root = JsonNode.Parse(text)!;
                for (int k = rng.Next(1, 3); k > 0; k--)
                {
                    var all = new List<(JsonNode Parent, string? Key, int Index, string Path)>();
                    Collect(root, "", all);
                    var preferred = all.Where(x => preferField(x.Path)).ToList();
                    var pick = preferred.Count > 0 && rng.Next(4) > 0 ? preferred[rng.Next(preferred.Count)] : all[rng.Next(all.Count)];
                    var value = Hostile[rng.Next(Hostile.Length)];
                    JsonNode? node = value == Deep ? JsonValue.Create(Deep) : value == "NaN" ? JsonValue.Create("NaN") : JsonNode.Parse(value);
                    if (pick.Key is not null) pick.Parent.AsObject()[pick.Key] = node;
                    else pick.Parent.AsArray()[pick.Index] = node;
                }
                return root.ToJsonString().Replace("\"" + Deep + "\"", new string('[', 5000) + new string(']', 5000), StringComparison.Ordinal)
                    .Replace("\"NaN\"", rng.Next(2) == 0 ? "NaN" : "\"NaN\"", StringComparison.Ordinal);
            }
        }
    }

    private static void Collect(JsonNode node, string path, List<(JsonNode, string?, int, string)> into)
    {
        if (node is JsonObject o)
            foreach (var (k, v) in o.ToArray())
            {
                into.Add((o, k, -1, path + "." + k));
                if (v is not null) Collect(v, path + "." + k, into);
            }
        else if (node is JsonArray a)
            for (int i = 0; i < a.Count; i++)
            {
                into.Add((a, null, i, path + $"[{i}]"));
                if (a[i] is { } v) Collect(v, path + $"[{i}]", into);
            }
    }

    /// <summary>Runs <paramref name="load"/> with a time bound; only <paramref name="typed"/> errors (naming the file) may come out.
    /// Returns whether it loaded.</summary>
    private static bool Expect(Action load, string file, string input, params Type[] typed)
    {
        Exception? error = null;
        var task = Task.Run(() => { try { load(); } catch (Exception e) { error = e; } });
        Assert.True(task.Wait(PerCase), $"loading hung (over {PerCase.TotalSeconds} s) on:\n{Shorten(input)}");
        if (error is null) return true;
        Assert.True(typed.Contains(error.GetType()), $"{error.GetType().Name}: {error.Message}\n{error.StackTrace}\non:\n{Shorten(input)}");
        Assert.Contains(file, error.Message);
        Assert.DoesNotContain('\n', error.Message);
        return false;
    }

    private static string Shorten(string s) => s.Length > 600 ? s[..600] + "…" : s;

    [Fact]
    public void MutatedConfigFilesYieldOnlyTypedErrors()
    {
        var fp = JsonNode.Parse(File.ReadAllText(TestUtil.FixturePath("qwen", "qwen3-tied", "config.json")))!.AsObject();
        var bitnet = new BitNetConfig();
        var ternary = fp.DeepClone().AsObject();
        ternary["bitnet"] = bitnet.ToJson();
        ternary["quantization_config"] = bitnet.ToQuantizationConfig();
        var generation = "{\"bos_token_id\": 1, \"eos_token_id\": [2, 3], \"pad_token_id\": 0, \"do_sample\": false, \"temperature\": 0.7, \"top_k\": 20, \"top_p\": 0.9, \"repetition_penalty\": 1.1, \"max_new_tokens\": 32}";
        var rng = new Random(20261203);
        var path = Path.Combine(_dir, "config.json");
        int loaded = 0, refused = 0;
        for (int iter = 0; iter < 300; iter++)
        {
            var seed = iter % 2 == 0 ? fp.ToJsonString() : ternary.ToJsonString();
            var text = Mutate(seed, rng, p => !p.StartsWith(".architectures", StringComparison.Ordinal));
            File.WriteAllText(path, text);
            bool ok = Expect(() =>
            {
                var config = ModelRegistry.LoadConfig(path);
                _ = config.ParameterCount;
                _ = ModelRegistry.ParameterShapes(config); // builds the model on the meta device: every size is used
            }, path, text, typeof(ModelConfigException));
            if (ok) loaded++; else refused++;

            var gtext = Mutate(generation, rng, _ => true);
            File.WriteAllText(Path.Combine(_dir, GenerationConfig.FileName), gtext);
            Expect(() => GenerationConfig.Load(_dir), GenerationConfig.FileName, gtext, typeof(ModelConfigException));
        }
        Assert.True(loaded > 10 && refused > 100, $"{loaded} loaded, {refused} refused: the mutations should exercise both");
    }

    [Fact]
    public void MutatedTokenizerFilesYieldOnlyTypedErrors()
    {
        var trained = BpeTrainer.Train(["The quick brown fox jumps over the lazy dog. 1234 héllo wörld!\n" + string.Concat(Enumerable.Repeat("the fox and the dog ", 20))], 300);
        var seed = JsonNode.Parse(trained.ToTokenizerJson())!.AsObject();
        seed["normalizer"] = JsonNode.Parse("{\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"NFC\"}, {\"type\": \"Replace\", \"pattern\": {\"String\": \"\\t\"}, \"content\": \" \"}]}");
        var json = seed.ToJsonString();
        var config = trained.ToTokenizerConfigJson();
        var rng = new Random(1203);
        const string source = "fuzz/tokenizer.json", configSource = "fuzz/tokenizer_config.json";
        int loaded = 0, refused = 0;
        for (int iter = 0; iter < 300; iter++)
        {
            bool mutateConfig = iter % 4 == 3;
            var text = mutateConfig ? json : Mutate(json, rng, p => !p.StartsWith(".model.vocab", StringComparison.Ordinal) && !p.StartsWith(".model.merges[", StringComparison.Ordinal) || rng.Next(20) == 0);
            var cfg = mutateConfig ? Mutate(config, rng, _ => true) : config;
            bool ok = Expect(() =>
            {
                var tok = TextTokenizer.FromJson(text, cfg, source, configSource);
                var ids = tok.Encode("The quick <|endoftext|> fox\t1234 héllo", addSpecialTokens: true);
                _ = tok.Decode(ids);
                _ = tok.Decode([0, tok.VocabSize, int.MaxValue, -1], showUnassigned: true);
            }, mutateConfig ? "fuzz/tokenizer" : source, mutateConfig ? cfg : text, typeof(TokenizerFormatException));
            if (ok) loaded++; else refused++;
        }
        Assert.True(loaded > 10 && refused > 100, $"{loaded} loaded, {refused} refused: the mutations should exercise both");
    }
}
