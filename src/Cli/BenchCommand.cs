using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using BitDistill.Kernels;
using BitDistill.Models.Tokenization;

namespace BitDistill.Cli;

/// <summary>`bitdistill bench`: this machine's FP32 FMA peak, SGEMM GFLOP/s at the standard shapes and tokenizer encoding speed.</summary>
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
        var tokenizers = new Option<string[]>("--tokenizer")
        {
            Description = "Also measure encoding MB/s of this tokenizer (a tokenizer.json, .json.gz or folder; repeatable) on the shipped Austen corpus; the shipped byte-level tokenizer is always measured.",
        };
        var command = new Command("bench", "Measure the FP32 FMA peak, SGEMM GFLOP/s and tokenizer encoding MB/s of this machine.") { threads, quick, tokenizers };
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
            // Tokenizers load before the measurements, so a bad path fails at once.
            var toks = new List<TextTokenizer> { TextTokenizer.Load(Path.Combine(DemoCommand.EmbeddedDataDir, "tokenizer")) };
            foreach (var t in parse.GetValue(tokenizers) ?? []) toks.Add(TextTokenizer.Load(t));
            int code = Run(counts, parse.GetValue(quick), Console.Out);
            RunTokenizers(toks, Path.Combine(DemoCommand.EmbeddedDataDir, "corpus", "austen.train.txt.gz"), parse.GetValue(quick), Console.Out);
            return code;
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

    /// <summary>Prints a markdown table of encoding MB/s (one thread, line by line) for each tokenizer on a text file.</summary>
    public static void RunTokenizers(IReadOnlyList<TextTokenizer> tokenizers, string textPath, bool quick, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(tokenizers);
        ArgumentNullException.ThrowIfNull(output);
        string text = TokenizerThroughput.ReadSample(textPath, quick ? 512 << 10 : 2 << 20);
        int runs = quick ? 3 : 5;
        output.WriteLine();
        output.WriteLine("| tokenizer | family | vocab | encode MB/s (1 thread) |");
        output.WriteLine("|---|---|---:|---:|");
        foreach (var t in tokenizers)
        {
            double rate = TokenizerThroughput.Measure(t, text, runs);
            output.WriteLine($"| {t.Source} | {(t.IsSentencePieceStyle ? "SentencePiece-style BPE" : "byte-level BPE")} | {t.VocabSize:N0} | {rate:F2} |");
        }
        output.WriteLine();
        output.WriteLine($"(median of {runs} parts of {Encoding.UTF8.GetByteCount(text) / 1e6:F2} MB of {Path.GetFileName(textPath)}, each new text, after a warm-up part)");
    }
}
