using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using BitDistill.Models.Tokenization;

namespace BitDistill.Cli;

/// <summary>Encoding speed of a tokenizer (UTF-8 megabytes of input per second) on a text, for `bitdistill bench`.</summary>
public static class TokenizerThroughput
{
    /// <summary>Up to <paramref name="maxBytes"/> of a text file (optionally .gz), cut at a line end.</summary>
    public static string ReadSample(string path, int maxBytes)
    {
        using Stream file = File.OpenRead(path);
        using Stream s = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? new GZipStream(file, CompressionMode.Decompress) : file;
        using var reader = new StreamReader(s, Encoding.UTF8);
        var sb = new StringBuilder();
        string? line;
        while (sb.Length < maxBytes && (line = reader.ReadLine()) != null) sb.Append(line).Append('\n');
        return sb.ToString();
    }

    /// <summary>Median MB/s of encoding <paramref name="text"/> line by line (as training data is encoded): the lines are cut
    /// into runs + 1 parts of distinct lines, the first warms up (JIT, the tokenizer's word cache) and each other part is timed
    /// once, so no pass re-reads lines it has cached (a SentencePiece-style BPE caches whole lines, byte-level BPE words).</summary>
    public static double Measure(TextTokenizer tokenizer, string text, int runs)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(text);
        var lines = text.Split('\n');
        int per = Math.Max(1, lines.Length / (runs + 1));
        long sink = 0;
        var rates = new List<double>();
        for (int r = 0; r <= runs; r++)
        {
            var part = lines.Skip(r * per).Take(per).ToArray();
            double mb = part.Sum(l => Encoding.UTF8.GetByteCount(l) + 1) / 1e6;
            var sw = Stopwatch.StartNew();
            foreach (var l in part) sink += tokenizer.Encode(l).Length;
            if (r > 0) rates.Add(mb / sw.Elapsed.TotalSeconds);
        }
        GC.KeepAlive(sink);
        rates.Sort();
        return rates[rates.Count / 2];
    }
}
