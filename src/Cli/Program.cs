using System.CommandLine;

namespace BitDistill.Cli;

/// <summary>The bitdistill command.</summary>
public static class Program
{
    public static int Main(string[] args) => CreateRoot().Parse(args).Invoke();

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
        root.Subcommands.Add(FinetuneCommand.Create());
        root.Subcommands.Add(DistillCommand.Create());
        root.Subcommands.Add(EvaluateCommand.Create());
        root.Subcommands.Add(ClassifyCommand.Create());
        root.Subcommands.Add(CompareCommand.Create());
        return root;
    }
}
