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

    /// <summary>Median MB/s of encoding <paramref name="text"/> line by line (as training data is encoded), after one warm-up pass
    /// (which also fills the tokenizer's word cache, as in any long run).</summary>
    public static double Measure(TextTokenizer tokenizer, string text, int runs)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(text);
        var lines = text.Split('\n');
        double mb = Encoding.UTF8.GetByteCount(text) / 1e6;
        long sink = 0;
        foreach (var l in lines) sink += tokenizer.Encode(l).Length;
        var rates = new List<double>();
        for (int r = 0; r < runs; r++)
        {
            var sw = Stopwatch.StartNew();
            foreach (var l in lines) sink += tokenizer.Encode(l).Length;
            rates.Add(mb / sw.Elapsed.TotalSeconds);
        }
        GC.KeepAlive(sink);
        rates.Sort();
        return rates[rates.Count / 2];
    }
}
