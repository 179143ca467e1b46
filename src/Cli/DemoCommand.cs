using System.CommandLine;
using BitDistill.Distill.Demo;

namespace BitDistill.Cli;

/// <summary>The `demo` verb: the recipe as far as it exists, on the embedded data (no downloads).</summary>
public static class DemoCommand
{
    /// <summary>Where the repository's data/ folder lands next to the binaries.</summary>
    public static string EmbeddedDataDir => Path.Combine(AppContext.BaseDirectory, "data");

    /// <summary>`bitdistill demo [--quick] [--output DIR] [--seed N]`.</summary>
    public static Command Create()
    {
        var quick = new Option<bool>("--quick") { Description = "a shorter run (about a minute or two on two cores)" };
        var output = new Option<string>("--output") { Description = "folder for models, plots and results.json", DefaultValueFactory = _ => "demo-output" };
        var seed = new Option<ulong>("--seed") { Description = "random seed", DefaultValueFactory = _ => 1UL };
        var cmd = new Command("demo", "Pretrain a small Qwen3 on the embedded Jane Austen corpus, refine it to 1.58 bits (with and without SubLN), continue training, and compare held-out perplexities.");
        cmd.Options.Add(quick); cmd.Options.Add(output); cmd.Options.Add(seed);
        cmd.SetAction(p => ErrorPolicy.Run("demo", p, () =>
        {
            EmbeddedDemo.Run(new DemoOptions { DataDir = EmbeddedDataDir, OutputDir = p.GetValue(output)!, Quick = p.GetValue(quick), Seed = p.GetValue(seed) });
            return 0;
        }));
        return cmd;
    }
}
