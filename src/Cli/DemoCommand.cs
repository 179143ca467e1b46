using System.CommandLine;
using BitDistill.Distill.Data;
using BitDistill.Distill.Demo;

namespace BitDistill.Cli;

/// <summary>The `demo` verb: the paper's comparison (FP-SFT, BitNet-SFT, BitDistill) on the three shipped tasks from the
/// shipped pretrained base model; no downloads.</summary>
public static class DemoCommand
{
    /// <summary>Where the repository's data/ folder lands next to the binaries.</summary>
    public static string EmbeddedDataDir => Path.Combine(AppContext.BaseDirectory, "data");

    /// <summary>`bitdistill demo [--quick] [--paper] [--output DIR] [--seeds N] [--seed N] [--tasks LIST] [--overwrite]`.</summary>
    public static Command Create()
    {
        var quick = new Option<bool>("--quick") { Description = "the same path on a small budget (about a minute on two cores)" };
        var paper = new Option<bool>("--paper") { Description = "add the four ablations (no SubLN, no stage 2, logits distillation only, attention distillation only) and BitDistill trained with the GPTQ- and AWQ-style ternary quantisers (bitdistill-gptq, bitdistill-awq: see `distill --weight-quant`; each runs its own stage 2)" };
        var output = new Option<string>("--output") { Description = "folder for report.json, report.md and the plots", DefaultValueFactory = _ => "demo-output" };
        var seeds = new Option<int?>("--seeds") { Description = "seeds per method (default 3; 1 with --quick)" };
        var seed = new Option<ulong>("--seed") { Description = "the first seed", DefaultValueFactory = _ => 1UL };
        var tasks = new Option<string?>("--tasks") { Description = $"comma-separated shipped tasks (default: {string.Join(",", ShippedTasks.Names)})" };
        var overwrite = new Option<bool>("--overwrite") { Description = "write into a non-empty --output folder that another verb wrote" };
        var cmd = new Command("demo", "The paper's comparison on the shipped tasks: FP-SFT, BitNet-SFT and BitDistill from the shipped pretrained base model, with confidence intervals, weight sizes and decode speed.");
        foreach (var o in new Option[] { quick, paper, output, seeds, seed, tasks, overwrite }) cmd.Options.Add(o);
        cmd.SetAction(p => ErrorPolicy.Run("demo", p, () =>
        {
            if (p.GetValue(seeds) is <= 0) throw new UsageException($"--seeds must be positive, got {p.GetValue(seeds)}");
            string[]? names = p.GetValue(tasks)?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (names is { Length: 0 }) throw new UsageException("--tasks is empty");
            foreach (var n in names ?? []) if (!ShippedTasks.Names.Contains(n)) throw new UsageException($"--tasks: no shipped task '{n}' (there are: {string.Join(", ", ShippedTasks.Names)})");
            if (!Directory.Exists(EmbeddedDemo.BaseModelDir(EmbeddedDataDir))) throw new UsageException($"the shipped base model is missing: {EmbeddedDemo.BaseModelDir(EmbeddedDataDir)}");
            using var claimed = OutputFolder.Claim("demo", p.GetValue(output)!, p.GetValue(overwrite), EmbeddedDataDir);
            using var interrupt = new Interruption();
            EmbeddedDemo.Run(new DemoOptions
            {
                DataDir = EmbeddedDataDir, OutputDir = claimed.Path, Quick = p.GetValue(quick), Paper = p.GetValue(paper), Seeds = p.GetValue(seeds),
                Seed = p.GetValue(seed), Tasks = names, Cancellation = interrupt.Token,
            });
            return 0;
        }));
        return cmd;
    }
}
