using BitDistill.Cli;
using BitDistill.Distill.Data;
using BitDistill.Distill.Tasks;
using BitDistill.Models;
using BitDistill.Models.Qwen;
using BitDistill.Tensors;

namespace BitDistill.Tests.Cli;

/// <summary>Every verb that reads a model meets a damaged model folder with one line naming the file, exit code 2, and no
/// stack trace.</summary>
[Collection("Serial")]
public sealed class CorruptModelTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bitdistill-corrupt").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private static string Data(params string[] p) => Path.Combine([AppContext.BaseDirectory, "data", .. p]);

    private string Model(string name, Action<string> damage)
    {
        var path = Path.Combine(_dir, name);
        var model = ModelRegistry.Create(QwenConfig.Parse("""
            {"model_type": "qwen3", "vocab_size": 2048, "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
             "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 8, "rms_norm_eps": 1e-6, "rope_theta": 10000,
             "tie_word_embeddings": true, "max_position_embeddings": 128, "hidden_act": "silu"}
            """), new Generator(1));
        model.SavePretrained(path);
        ModelFolders.CopyTokenizer(Data("tokenizer"), path);
        new TaskSpec(TaskKind.Classification, ["negative", "positive"], null, 64, PromptTemplate.Default).Save(path);
        File.WriteAllText(Path.Combine(path, "run.json"), $$"""{"base_model": "{{path}}"}""");
        damage(path);
        return path;
    }

    public static IEnumerable<object[]> Damages() => new[]
    {
        new object[] { "truncated weights", "model.safetensors" },
        ["bad config json", "config.json"],
        ["wrong tensor shape", "model.safetensors"],
        ["absurd layer count", "config.json"],
    };

    private static void Damage(string kind, string path)
    {
        var st = Path.Combine(path, "model.safetensors"); var cfg = Path.Combine(path, "config.json");
        switch (kind)
        {
            case "truncated weights": var b = File.ReadAllBytes(st); File.WriteAllBytes(st, b[..(b.Length / 2)]); break;
            case "bad config json": File.WriteAllText(cfg, "{\"model_type\": \"qwen3\", "); break;
            case "wrong tensor shape": File.WriteAllText(cfg, File.ReadAllText(cfg).Replace("\"intermediate_size\": 32", "\"intermediate_size\": 48")); break;
            case "absurd layer count": File.WriteAllText(cfg, File.ReadAllText(cfg).Replace("\"num_hidden_layers\": 1", "\"num_hidden_layers\": 1000000")); break;
        }
    }

    [Theory, MemberData(nameof(Damages))]
    public void EveryVerbThatReadsAModelReportsTheDamagedFileInOneLine(string damage, string file)
    {
        var m = Model(damage.Replace(' ', '-'), p => Damage(damage, p));
        var test = Path.Combine(_dir, "t.jsonl");
        File.WriteAllText(test, "{\"text\": \"great\", \"label\": \"positive\"}\n{\"text\": \"awful\", \"label\": \"negative\"}\n");
        var train = Data("tasks", "sentiment", "train.jsonl.gz");
        string[][] runs =
        [
            ["inspect", m],
            ["generate", "--model", m, "--prompt-ids", "1,2", "--json"],
            ["quantize", "--model", m, "--method", "gptq", "--calibration", test, "--output", Path.Combine(_dir, "q-" + damage.Replace(' ', '-'))],
            ["evaluate", "--model", m, "--test", test],
            ["classify", "--model", m, "--text", "fine"],
            ["finetune", "--model", m, "--task", "classify", "--train", train, "--steps", "1", "--output", Path.Combine(_dir, "f-" + damage.Replace(' ', '-'))],
            ["distill", "--teacher", m, "--train", train, "--no-stage2", "--steps", "1", "--output", Path.Combine(_dir, "d-" + damage.Replace(' ', '-'))],
        ];
        foreach (var args in runs)
        {
            var (o, e) = (new StringWriter(), new StringWriter());
            var (oldOut, oldErr) = (Console.Out, Console.Error);
            Console.SetOut(o); Console.SetError(e);
            int code;
            try { code = Program.Main(args); }
            finally { Console.SetOut(oldOut); Console.SetError(oldErr); }
            var err = e.ToString();
            Assert.True(code == ErrorPolicy.BadInput, $"{args[0]} on {damage}: exit {code}: {err}");
            Assert.True(err.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length == 1, $"{args[0]} on {damage}: {err}");
            Assert.DoesNotContain("   at ", err);
            Assert.True(err.Contains(file, StringComparison.Ordinal), $"{args[0]} on {damage} does not name {file}: {err}");
        }
    }
}
