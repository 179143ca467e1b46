using System.Globalization;
using System.Text.RegularExpressions;
using BitDistill.Kernels;

namespace BitDistill.Bench;

/// <summary>`gemm-peer`: our SGEMM and FMA peak against PyTorch+OpenBLAS, measured in the same run, as a markdown table.</summary>
public static partial class GemmPeer
{
    /// <summary>The shapes, M×K×N (the order torch_gemm.py prints).</summary>
    public static readonly (int M, int K, int N)[] Shapes = [(1024, 1024, 1024), (2048, 256, 768), (2048, 768, 256)];

    /// <summary>Median GFLOP/s of our SGEMM (see <see cref="SgemmThroughput"/>).</summary>
    public static double MeasureSgemm(int m, int k, int n, int threads, int runs = 7, int reps = 10) => SgemmThroughput.Measure(m, k, n, threads, runs, reps);

    /// <summary>Runs the comparison and prints the table.</summary>
    public static int Run(int[] threadCounts)
    {
        Console.WriteLine($"SIMD {KernelContext.Current.Simd}, {Environment.ProcessorCount} logical cores, {RuntimeInfo()}");
        var peak = threadCounts.ToDictionary(t => t, t => FmaPeak.Measure(t));
        foreach (var (t, p) in peak) Console.WriteLine($"FMA peak, {t} thread(s): {p:F1} GFLOP/s");

        var ours = new Dictionary<(int, int, int, int), double>();
        foreach (var t in threadCounts)
            foreach (var (m, k, n) in Shapes)
                ours[(m, k, n, t)] = MeasureSgemm(m, k, n, t);

        var torch = new Dictionary<(int, int, int, int), double>();
        string? unavailable = null;
        foreach (var t in threadCounts)
        {
            var (ok, output) = RunTorch(t);
            if (!ok) { unavailable = output; break; }
            foreach (Match mt in TorchLine().Matches(output))
                torch[(int.Parse(mt.Groups[2].Value), int.Parse(mt.Groups[3].Value), int.Parse(mt.Groups[4].Value), int.Parse(mt.Groups[1].Value))] =
                    double.Parse(mt.Groups[5].Value, CultureInfo.InvariantCulture);
        }
        if (unavailable != null)
            Console.WriteLine($"PyTorch peer unavailable ({unavailable}). Install it with: sudo apt-get install python3-torch libopenblas0-pthread");

        Console.WriteLine();
        Console.WriteLine("| shape (M×K×N) | threads | ours GFLOP/s | % of FMA peak | torch GFLOP/s | ours/torch |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|");
        foreach (var t in threadCounts)
            foreach (var (m, k, n) in Shapes)
            {
                double o = ours[(m, k, n, t)];
                string tc = torch.TryGetValue((m, k, n, t), out var tv) ? tv.ToString("F1", CultureInfo.InvariantCulture) : "n/a";
                string ratio = torch.ContainsKey((m, k, n, t)) ? (o / tv).ToString("F2", CultureInfo.InvariantCulture) + "×" : "n/a";
                Console.WriteLine($"| {m}×{k}×{n} | {t} | {o:F1} | {100 * o / peak[t]:F0}% | {tc} | {ratio} |");
            }
        return 0;
    }

    private static string RuntimeInfo() => $".NET {Environment.Version}";

    private static (bool ok, string output) RunTorch(int threads) => TorchPeer.Run("torch_gemm.py", threads);

    [GeneratedRegex(@"threads=(\d+) (\d+)x(\d+)x(\d+): ([0-9.]+) GFLOP/s")]
    private static partial Regex TorchLine();
}
