using System.CommandLine;
using System.CommandLine.Parsing;

namespace BitDistill.Cli;

/// <summary>The bitdistill command.</summary>
public static class Program
{
    public static int Main(string[] args) => DataParallelLaunch.Run(() => Execute(args));

    private static int Execute(string[] args)
    {
        var parse = CreateRoot().Parse(args);
        if (parse.Errors.Count == 0) return parse.Invoke();
        // bad options are bad input like any other: one line naming the option, exit code 2 (not the whole help text)
        var names = new List<string>();
        for (var r = parse.CommandResult; r.Parent is CommandResult parent; r = parent) names.Insert(0, r.Command.Name);
        string prefix = string.Join(' ', names.Prepend("bitdistill"));
        Console.Error.WriteLine($"{prefix}: {string.Join("; ", parse.Errors.Select(e => string.Join(' ', e.Message.Split([' ', '\t', '\r', '\n'], StringSplitOptions.RemoveEmptyEntries))))} (see {prefix} --help)");
        return ErrorPolicy.BadInput;
    }

    /// <summary>The root command with every verb (tests walk it to check that each option is described).</summary>
    public static RootCommand CreateRoot()
    {
        var root = new RootCommand("BitDistill.NET: distil full-precision Transformers into 1.58-bit models and run them on any CPU.");
        root.Options.Add(ErrorPolicy.Verbose);
        root.Subcommands.Add(DemoCommand.Create());
        root.Subcommands.Add(PretrainCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(TokenizeCommands.Tokenize());
        root.Subcommands.Add(TokenizeCommands.Tokenizer());
        root.Subcommands.Add(InspectCommand.Create());
        root.Subcommands.Add(GenerateCommand.Create());
        root.Subcommands.Add(QuantizeCommand.Create());
        root.Subcommands.Add(ExportCommand.Create());
        root.Subcommands.Add(FinetuneCommand.Create());
        root.Subcommands.Add(DistillCommand.Create());
        root.Subcommands.Add(EvaluateCommand.Create());
        root.Subcommands.Add(ClassifyCommand.Create());
        root.Subcommands.Add(CompareCommand.Create());
        // --threads on every verb that computes (bench has its own list of thread counts; inspect only reads)
        foreach (var verb in root.Subcommands.SelectMany(c => c.Subcommands.Prepend(c)))
            if (verb.Name is not ("bench" or "inspect" or "tokenizer") && !verb.Options.Any(o => o.Name == "--threads"))
                verb.Options.Add(ErrorPolicy.Threads);
        // --device on the verbs that build models through the backend interface (generate and export run the packed CPU runtime)
        foreach (var verb in root.Subcommands)
            if (verb.Name is "demo" or "pretrain" or "finetune" or "distill" or "evaluate" or "classify" or "compare" or "quantize")
                verb.Options.Add(ErrorPolicy.DeviceOption);
        return root;
    }
}
