using System.Text.Json;
using BitDistill.Distill.Data;
using BitDistill.Models;
using BitDistill.Models.Qwen;
using BitDistill.Tensors;

namespace BitDistill.Tests.Cli;

/// <summary>The recipe's verbs end to end with <c>--device emulator</c> (ILGPU's CPU accelerator, so every tensor op runs
/// as a device kernel) against <c>--device cpu</c>: FP-SFT (finetune), stages 1–3 with the teacher's forward, LD and AD
/// (distill, which also evaluates the test rows) and classify land on the same losses, accuracies and label probabilities.</summary>
[Collection("Serial")]
public sealed class EmulatorRecipeTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bitdistill-emulator").FullName;
    private static string Data(params string[] p) => Path.Combine([AppContext.BaseDirectory, "data", .. p]);

    public void Dispose() => Directory.Delete(_dir, true);

    private const double Epsilon = 1.1920929e-7; // float32 machine epsilon
    private const double Tau = 5;                // distill's default temperature
    private const int Vocabulary = 2048;

    private string BaseModel()
    {
        var path = Path.Combine(_dir, "base");
        var model = ModelRegistry.Create(QwenConfig.Parse($$"""
            {"model_type": "qwen3", "vocab_size": {{Vocabulary}}, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
             "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 16, "rms_norm_eps": 1e-6, "rope_theta": 10000,
             "tie_word_embeddings": true, "max_position_embeddings": 256, "hidden_act": "silu"}
            """), new Generator(11));
        model.SavePretrained(path);
        ModelFolders.CopyTokenizer(Data("tokenizer"), path);
        return path;
    }

    private sealed record Run(JsonElement[] FinetuneSteps, JsonElement[] Stage2Steps, JsonElement[] TaskSteps, JsonElement Eval, JsonElement[] Classified);

    private Run RecipeOn(string device, string baseDir, string test, string texts, string corpus)
    {
        string ft = Path.Combine(_dir, "ft-" + device), st = Path.Combine(_dir, "st-" + device), train = Data("tasks", "sentiment", "train.jsonl.gz");
        var r = CliRunner.Run("finetune", "--model", baseDir, "--task", "classify", "--train", train, "--test", test,
            "--steps", "2", "--batch", "2", "--eval-rows", "4", "--max-length", "32", "--output", ft, "--device", device);
        Assert.True(r.Code == 0, device + ": " + r.Err + r.Out);
        r = CliRunner.Run("distill", "--teacher", ft, "--train", train, "--test", test, "--corpus", corpus, "--stage2-tokens", "32", "--stage2-seq-len", "16",
            "--steps", "2", "--batch", "2", "--eval-rows", "4", "--max-length", "32", "--gamma", "10", "--ad-layer", "1", "--relation-heads", "4",
            "--output", st, "--device", device);
        Assert.True(r.Code == 0, device + ": " + r.Err + r.Out);
        var c = CliRunner.Run("classify", "--model", st, "--jsonl", texts, "--device", device);
        Assert.True(c.Code == 0, device + ": " + c.Err);
        static JsonElement[] Steps(string file) => File.ReadAllLines(file).Select(l => JsonDocument.Parse(l).RootElement)
            .Where(e => e.TryGetProperty("loss", out _)).ToArray();
        return new Run(Steps(Path.Combine(ft, "run", "task", "metrics.jsonl")), Steps(Path.Combine(st, "run", "stage2", "metrics.jsonl")),
            Steps(Path.Combine(st, "run", "task", "metrics.jsonl")), JsonDocument.Parse(File.ReadAllText(Path.Combine(st, "eval.json"))).RootElement.GetProperty("classification"),
            c.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToArray());
    }

    private static void AssertNear(double device, double cpu, double tolerance, string what) =>
        Assert.True(Math.Abs(device - cpu) <= tolerance, $"{what}: emulator {device}, CPU {cpu} (|Δ| {Math.Abs(device - cpu):E2} > {tolerance:E2})");

    [Fact]
    public void AnEmulatorFinetuneDistillAndClassifyGiveTheCpuLossesAndLabels()
    {
        string baseDir = BaseModel();
        var rows = TaskFile.Read(Data("tasks", "sentiment", "test.jsonl.gz"), TaskKind.Classification).Rows.Take(4).ToArray();
        string test = Path.Combine(_dir, "test.jsonl"), texts = Path.Combine(_dir, "texts.jsonl"), corpus = Path.Combine(_dir, "corpus.txt");
        File.WriteAllLines(test, rows.Select(x => JsonSerializer.Serialize(new { text = x.Text, label = x.Answer })));
        File.WriteAllLines(texts, rows.Select(x => JsonSerializer.Serialize(new { text = x.Text })));
        File.WriteAllText(corpus, string.Join("\n\n", Enumerable.Range(0, 40).Select(i => $"It was the {i}th morning, and the weather was fine for a walk.")));

        var cpu = RecipeOn("cpu", baseDir, test, texts, corpus);
        var emu = RecipeOn("emulator", baseDir, test, texts, corpus);

        // Losses: the kernels sum in another order than the CPU's SIMD blocks, so values differ by float32 rounding only.
        // CE and the causal-LM loss (≈ ln V = 7.6) and AD (≈ 1.2) are means of O(1) terms: a relative 1e-5 is ~100 ε
        // (measured: ≤ 6e-8 relative). LD is τ²·KL, a small difference of log-probabilities of size up to ln V: its
        // absolute rounding is τ²·ln V·ε·(a few), 8 of them allowed here = 2.2e-5 (measured: 7.4e-6 on LD ≈ 0.0095).
        double ldTolerance = Tau * Tau * Math.Log(Vocabulary) * Epsilon * 8;
        foreach (var (name, c, e) in new[] { ("fp-sft", cpu.FinetuneSteps, emu.FinetuneSteps), ("stage 2", cpu.Stage2Steps, emu.Stage2Steps), ("stage 3", cpu.TaskSteps, emu.TaskSteps) })
        {
            Assert.Equal(c.Length, e.Length);
            Assert.NotEmpty(c);
            for (int s = 0; s < c.Length; s++)
            {
                double lc = c[s].GetProperty("loss").GetDouble();
                AssertNear(e[s].GetProperty("loss").GetDouble(), lc, 1e-5 * Math.Abs(lc) + (name == "stage 3" ? 10 * ldTolerance : 0), $"{name} step {s + 1} loss");
                foreach (var term in c[s].GetProperty("terms").EnumerateObject())
                {
                    double v = term.Value.GetDouble();
                    AssertNear(e[s].GetProperty("terms").GetProperty(term.Name).GetDouble(), v, term.Name == "ld" ? ldTolerance : 1e-5 * Math.Abs(v), $"{name} step {s + 1} {term.Name}");
                }
            }
        }
        Assert.Equal(["ad", "ce", "ld"], cpu.TaskSteps[0].GetProperty("terms").EnumerateObject().Select(t => t.Name).Order().ToArray());

        // the same predictions: accuracy and every class's predicted count from distill's evaluation of the test rows
        Assert.Equal(4, emu.Eval.GetProperty("count").GetInt32());
        Assert.Equal(cpu.Eval.GetProperty("accuracy").GetDouble(), emu.Eval.GetProperty("accuracy").GetDouble());
        Assert.Equal(cpu.Eval.GetProperty("per_class").EnumerateArray().Select(x => x.GetProperty("predicted").GetInt32()),
                     emu.Eval.GetProperty("per_class").EnumerateArray().Select(x => x.GetProperty("predicted").GetInt32()));

        // classify: the same label for each text and probabilities equal to the printed digits (six), ±1 in the last
        Assert.Equal(4, emu.Classified.Length);
        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(cpu.Classified[i].GetProperty("label").GetString(), emu.Classified[i].GetProperty("label").GetString());
            foreach (var p in cpu.Classified[i].GetProperty("probabilities").EnumerateObject())
                AssertNear(emu.Classified[i].GetProperty("probabilities").GetProperty(p.Name).GetDouble(), p.Value.GetDouble(), 1.01e-6, $"text {i} p({p.Name})");
        }
    }
}
