using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using BitDistill.Kernels;

namespace BitDistill.Cli;

/// <summary>`bitdistill bench`: this machine's FP32 FMA peak and SGEMM GFLOP/s at the standard shapes.</summary>
public static class BenchCommand
{
    private static readonly (int M, int K, int N)[] Shapes = [(1024, 1024, 1024), (2048, 256, 768), (2048, 768, 256)];

    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var threads = new Option<string>("--threads")
        {
            Description = "Comma-separated thread counts to measure (e.g. 1,2).",
            DefaultValueFactory = _ => Environment.ProcessorCount > 1 ? $"1,{Environment.ProcessorCount}" : "1",
        };
        var quick = new Option<bool>("--quick") { Description = "Fewer, shorter runs (a few seconds)." };
        var command = new Command("bench", "Measure the FP32 FMA peak and SGEMM GFLOP/s of this machine.") { threads, quick };
        command.SetAction(parse => ErrorPolicy.Run("bench", parse, () =>
        {
            int[] counts;
            try
            {
                counts = parse.GetValue(threads)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                    .Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
            }
            catch (FormatException) { counts = []; }
            if (counts.Length == 0 || counts.Any(c => c < 1))
                throw new UsageException($"--threads expects positive integers separated by commas, got '{parse.GetValue(threads)}'");
            return Run(counts, parse.GetValue(quick), Console.Out);
        }));
        return command;
    }

    /// <summary>Measures and prints a markdown table; returns the exit code.</summary>
    public static int Run(int[] threadCounts, bool quick, TextWriter output)
    {
        int runs = quick ? 3 : 7, reps = quick ? 3 : 10;
        var total = Stopwatch.StartNew();
        output.WriteLine($"SIMD {KernelContext.Current.Simd} (hardware {KernelContext.HardwareSimd}), {Environment.ProcessorCount} logical cores, .NET {Environment.Version}");
        var peak = new Dictionary<int, double>();
        foreach (int t in threadCounts)
        {
            peak[t] = FmaPeak.Measure(t, quick ? 4 : 8); // best of several rounds: a 2-thread round is easily disturbed by another process
            output.WriteLine($"FP32 FMA peak, {t} thread(s): {peak[t]:F1} GFLOP/s");
        }
        output.WriteLine();
        output.WriteLine("| shape (M×K×N) | threads | SGEMM GFLOP/s | % of FMA peak |");
        output.WriteLine("|---|---:|---:|---:|");
        foreach (int t in threadCounts)
            foreach (var (m, k, n) in Shapes)
            {
                double g = SgemmThroughput.Measure(m, k, n, t, runs, reps);
                output.WriteLine($"| {m}×{k}×{n} | {t} | {g:F1} | {100 * g / peak[t]:F0}% |");
            }
        output.WriteLine();
        output.WriteLine($"(median of {runs} runs of {reps} products after warm-up; {total.Elapsed.TotalSeconds:F1} s)");
        return 0;
    }
}
