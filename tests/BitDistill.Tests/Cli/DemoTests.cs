using System.Text.Json;

namespace BitDistill.Tests.Cli;

/// <summary>README's first command on its quick budget: the comparison of FP-SFT, BitNet-SFT and BitDistill on the three
/// shipped tasks from the shipped base model, written as report.json, report.md and one plot per task.</summary>
[Collection("Serial")]
public sealed class DemoTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bitdistill-demo").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private static (int Code, string Out, string Err) Run(params string[] args) => CliRunner.Run(args);

    [Fact]
    public void QuickDemoComparesTheThreeMethodsOnTheThreeShippedTasks()
    {
        var outDir = Path.Combine(_dir, "demo");
        var r = Run("demo", "--quick", "--output", outDir);
        Assert.True(r.Code == 0, r.Err + r.Out);
        Assert.Null(BitDistill.Tensors.TensorScope.Current); // nothing left a pool scope open on this thread
        var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "report.json"))).RootElement;
        var tasks = report.GetProperty("tasks").EnumerateArray().ToArray();
        Assert.Equal(["sentiment", "debian-match", "debian-summary"], tasks.Select(t => t.GetProperty("task").GetString()));
        foreach (var t in tasks)
        {
            var summary = t.GetProperty("summary").EnumerateArray().ToDictionary(s => s.GetProperty("method").GetString()!);
            Assert.Equal(["fp-sft", "bitnet-sft", "bitdistill"], summary.Keys);
            string metric = t.GetProperty("kind").GetString() == "classify" ? "accuracy" : "rougeL";
            Assert.All(summary.Values, s => Assert.InRange(s.GetProperty(metric + "_mean").GetDouble(), 0, 1));
            Assert.All(summary.Values, s => Assert.True(s.GetProperty("decode_tokens_per_second").GetDouble() > 0));
            // ternary weights deploy in well under half the FP16 bytes; the FP model deploys at FP16
            Assert.Equal(summary["fp-sft"].GetProperty("fp16_bytes").GetInt64(), summary["fp-sft"].GetProperty("weights_bytes").GetInt64());
            Assert.True(summary["bitdistill"].GetProperty("weights_bytes").GetInt64() * 2 < summary["bitdistill"].GetProperty("fp16_bytes").GetInt64());
            Assert.True(File.Exists(Path.Combine(outDir, t.GetProperty("task").GetString() + ".png")));
            Assert.True(File.Exists(Path.Combine(outDir, t.GetProperty("task").GetString() + "-flip-rate.png")));
        }
        var md = File.ReadAllText(Path.Combine(outDir, "report.md"));
        Assert.Contains("| bitdistill |", md);
        Assert.Contains("ROUGE-L", md);
        // the stage-2 student is trained once per seed and shared by the tasks
        Assert.Equal(2, r.Out.Split("reusing the student").Length - 1);
    }

    [Theory]
    [InlineData("--seeds", "0")]
    [InlineData("--tasks", "sentiment,nli")]
    public void BadDemoOptionsAreOneLineWithExitCodeTwo(string flag, string value)
    {
        var r = Run("demo", "--quick", "--output", Path.Combine(_dir, "x"), flag, value);
        Assert.Equal(2, r.Code);
        Assert.Contains(flag, r.Err);
        Assert.Single(r.Err.Trim().Split('\n'));
        Assert.False(Directory.Exists(Path.Combine(_dir, "x")));
    }
}
