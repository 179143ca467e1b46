using System.CommandLine;
using BitDistill.Cli;

namespace BitDistill.Tests.Cli;

/// <summary>`--help` is the user's manual: every verb and every option of every verb says what it is for.</summary>
public class HelpTextTests
{
    private static IEnumerable<Command> Verbs(Command c) => c.Subcommands.SelectMany(s => Verbs(s).Prepend(s));

    [Fact]
    public void EveryVerbAndEveryOptionHasADescription()
    {
        var missing = new List<string>();
        foreach (var verb in Verbs(Program.CreateRoot()))
        {
            if (string.IsNullOrWhiteSpace(verb.Description)) missing.Add(verb.Name);
            foreach (var o in verb.Options)
                if (string.IsNullOrWhiteSpace(o.Description)) missing.Add($"{verb.Name} {o.Name}");
            foreach (var a in verb.Arguments)
                if (string.IsNullOrWhiteSpace(a.Description)) missing.Add($"{verb.Name} <{a.Name}>");
        }
        Assert.True(missing.Count == 0, "without a description: " + string.Join(", ", missing));
    }

    [Fact]
    public void EveryVerbThatComputesTakesThreads()
    {
        var without = Verbs(Program.CreateRoot()).Where(v => v.Subcommands.Count == 0 && v.Name != "inspect")
            .Where(v => !v.Options.Any(o => o.Name == "--threads")).Select(v => v.Name).ToArray();
        Assert.True(without.Length == 0, "without --threads: " + string.Join(", ", without));
    }

    [Fact]
    public void EveryVerbThatTrainsOrEvaluatesTakesDeviceDefaultingToCpu()
    {
        var root = Program.CreateRoot();
        foreach (var name in new[] { "demo", "pretrain", "finetune", "distill", "evaluate", "classify", "compare", "quantize" })
        {
            var verb = root.Subcommands.Single(v => v.Name == name);
            Assert.True(verb.Options.Any(o => o.Name == "--device"), $"{name} without --device");
        }
        var r = root.Parse(["pretrain", "--output", "o"]);
        Assert.Equal("cpu", r.GetValue(ErrorPolicy.DeviceOption));
        Assert.Contains(root.Parse(["pretrain", "--output", "o", "--device", "tpu"]).Errors, e => e.Message.Contains("tpu"));
    }

    [Fact]
    public void ThreadsBelowOneIsRefusedBeforeAnyWork()
    {
        var r = Program.CreateRoot().Parse(["generate", "--model", "/nonexistent", "--prompt-ids", "1", "--threads", "0"]);
        Assert.Contains(r.Errors, e => e.Message == "--threads must be between 1 and 1024, got 0");
    }

    [Theory]
    [InlineData("bitdistill generate: --threads must be between 1 and 1024, got 0", "generate", "--model", "m", "--prompt-ids", "1", "--threads", "0")]
    [InlineData("bitdistill tokenizer train: Option '--vocab-size' is required.", "tokenizer", "train", "--output", "o", "x.txt")]
    [InlineData("bitdistill pretrain: Argument 'tpu' not recognized. Must be one of: 'cpu' 'cuda' 'opencl' 'emulator'", "pretrain", "--output", "o", "--device", "tpu")]
    public void ABadOptionIsOneLineNamingTheVerbWithExitCode2(string message, params string[] args)
    {
        var e = new StringWriter();
        var old = Console.Error;
        Console.SetError(e);
        int code;
        try { code = Program.Main(args); }
        finally { Console.SetError(old); }
        Assert.Equal(ErrorPolicy.BadInput, code);
        var lines = e.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith(message, lines[0]);
    }
}
