using System.Text.Json;
using BitDistill.Distill.Data;
using BitDistill.Distill.Tasks;
using BitDistill.Models;
using BitDistill.Models.BitNet;
using BitDistill.Models.Gemma3;

namespace BitDistill.Tests.Cli;

/// <summary>The recipe on a Gemma 3 architecture: a tiny model made by <c>pretrain --architecture gemma3</c> (local layers with a
/// window shorter than the training sequences) goes through <c>compare --budget quick</c> (refine with SubLN, stage 2, stage 3
/// distillation from the Gemma teacher), the ternary student reloads as a Gemma 3 model with SubLN before o_proj and down_proj,
/// and its export (t1.6) classifies on the runtime with the training model's labels.</summary>
[Collection("Serial")]
public sealed class Gemma3RecipeTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bitdistill-gemma3-recipe").FullName;
    private static string Data(params string[] p) => Path.Combine([AppContext.BaseDirectory, "data", .. p]);

    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void APretrainedGemma3GoesThroughCompareQuickAndItsStudentHasSubLnInThePapersPlace()
    {
        string baseDir = Path.Combine(_dir, "base");
        var r = CliRunner.Run("pretrain", "--architecture", "gemma3", "--output", baseDir, "--hidden", "32", "--layers", "2", "--heads", "2",
            "--kv-heads", "1", "--head-dim", "16", "--intermediate", "64", "--steps", "3", "--batch", "2", "--seq-len", "32", "--sliding-window", "8");
        Assert.True(r.Code == 0, r.Err + r.Out);
        var teacher = Assert.IsType<Gemma3Model>(ModelRegistry.FromPretrained(baseDir));
        Assert.Equal([true, false], teacher.Config.LayerTypes);
        Assert.Equal(8, teacher.Config.SlidingWindow);

        var rows = TaskFile.Read(Data("tasks", "sentiment", "test.jsonl.gz"), TaskKind.Classification).Rows.Take(16).ToArray();
        string test = Path.Combine(_dir, "test.jsonl");
        File.WriteAllLines(test, rows.Select(x => JsonSerializer.Serialize(new { text = x.Text, label = x.Answer })));
        string report = Path.Combine(_dir, "report");
        r = CliRunner.Run("compare", "--task", "classify", "--train", Data("tasks", "sentiment", "train.jsonl.gz"), "--test", test, "--base", baseDir,
            "--methods", "fp-sft,bitnet-sft,bitdistill", "--budget", "quick", "--steps", "2", "--batch", "4", "--eval-rows", "8",
            "--max-length", "64", "--gamma", "10", "--relation-heads", "4", "--report", report);
        Assert.True(r.Code == 0, r.Err + r.Out);
        var results = JsonDocument.Parse(File.ReadAllText(Path.Combine(report, "report.json"))).RootElement.GetProperty("results").EnumerateArray().ToArray();
        Assert.Equal(["fp-sft", "bitnet-sft", "bitdistill"], results.Select(x => x.GetProperty("method").GetString()!).ToArray());
        Assert.All(results, x => Assert.InRange(x.GetProperty("accuracy").GetDouble(), 0, 1));

        var student = Assert.IsType<Gemma3Model>(ModelRegistry.FromPretrained(Path.Combine(report, "seed1", "bitdistill", "task", "best")));
        Assert.NotNull(BitNetConfig.From(student.Config));
        var names = student.NamedParameters().Select(p => p.Name).ToHashSet();
        foreach (int l in new[] { 0, 1 })
        {
            Assert.Contains($"model.layers.{l}.self_attn.attn_sub_norm.weight", names);
            Assert.Contains($"model.layers.{l}.mlp.ffn_sub_norm.weight", names);
            // Gemma's own post-norms stay where they were, after the projections
            Assert.Contains($"model.layers.{l}.post_attention_layernorm.weight", names);
            Assert.Contains($"model.layers.{l}.post_feedforward_layernorm.weight", names);
            Assert.IsType<BitLinear>(student.Model.Layers[l].SelfAttn.OProj);
            Assert.IsType<BitLinear>(student.Model.Layers[l].Mlp.DownProj);
        }

        // the ternary student exports to the packed format and classifies on the runtime with the training model's labels
        // (compare's method folders hold weights only: the pretrained tokenizer and the task go beside them for classify)
        string best = Path.Combine(report, "seed1", "bitdistill", "task", "best"), exported = Path.Combine(_dir, "exported");
        foreach (var f in new[] { "tokenizer.json", "tokenizer_config.json" })
            if (File.Exists(Path.Combine(baseDir, f))) File.Copy(Path.Combine(baseDir, f), Path.Combine(best, f));
        var labels = rows.Select(x => x.Answer).Distinct().Order().ToArray();
        Assert.True(labels.Length >= 2);
        new TaskSpec(TaskKind.Classification, labels, null, 64, PromptTemplate.Default).Save(best);
        r = CliRunner.Run("export", "--model", best, "--format", "t1.6", "--output", exported);
        Assert.True(r.Code == 0, r.Err + r.Out);
        Assert.True(File.Exists(Path.Combine(exported, "tokenizer.json")));
        Assert.True(File.Exists(Path.Combine(exported, TaskSpec.FileName)));
        string inputs = Path.Combine(_dir, "inputs.jsonl");
        File.WriteAllLines(inputs, rows.Select(x => JsonSerializer.Serialize(new { text = x.Text })));
        string[] Labels(string model)
        {
            var c = CliRunner.Run("classify", "--model", model, "--jsonl", inputs);
            Assert.True(c.Code == 0, c.Err + c.Out);
            return c.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("label").GetString()!).ToArray();
        }
        var want = Labels(best);
        Assert.Equal(rows.Length, want.Length);
        Assert.Equal(want, Labels(exported));
    }

    [Fact]
    public void PretrainRefusesAnUnknownArchitecture()
    {
        var r = CliRunner.Run("pretrain", "--architecture", "llama", "--output", Path.Combine(_dir, "x"), "--steps", "1");
        Assert.NotEqual(0, r.Code);
        Assert.Contains("--architecture", r.Err);
    }
}
