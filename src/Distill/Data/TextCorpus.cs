using System.Text;
using System.Text.Json;

namespace BitDistill.Distill.Data;

/// <summary>Reads plain-text corpora: .txt (documents separated by blank lines), .jsonl (one {"text": …} per line), each
/// optionally gzip-compressed (.gz).</summary>
public static class TextCorpus
{
    /// <summary>The documents of one file, in order. Errors name the file (and line for JSONL).</summary>
    public static IEnumerable<string> ReadDocuments(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"corpus file '{path}' does not exist", path);
        bool gz = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase);
        string inner = gz ? path[..^3] : path;
        return inner.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase) ? Jsonl(path, gz) : Paragraphs(path, gz);
    }

    private static TextReader Open(string path, bool gz)
    {
        Stream s = gz ? VerifiedGzipStream.Open(path) : File.OpenRead(path);
        return new StreamReader(s, Encoding.UTF8);
    }

    private static IEnumerable<string> Paragraphs(string path, bool gz)
    {
        using var r = Open(path, gz);
        var cur = new StringBuilder();
        string? line;
        while ((line = r.ReadLine()) is not null)
        {
            if (line.Trim().Length == 0)
            {
                if (cur.Length > 0) { yield return cur.ToString(); cur.Clear(); }
                continue;
            }
            if (cur.Length > 0) cur.Append('\n');
            cur.Append(line);
        }
        if (cur.Length > 0) yield return cur.ToString();
    }

    private static IEnumerable<string> Jsonl(string path, bool gz)
    {
        using var r = Open(path, gz);
        string? line; int n = 0;
        while ((line = r.ReadLine()) is not null)
        {
            n++;
            if (line.Trim().Length == 0) continue;
            string? text;
            try
            {
                using var doc = JsonDocument.Parse(line);
                text = doc.RootElement.TryGetProperty("text", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
            }
            catch (JsonException e) { throw new InvalidDataException($"{path}:{n}: malformed JSON ({e.Message})", e); }
            yield return text ?? throw new InvalidDataException($"{path}:{n}: expected an object with a string field 'text'");
        }
    }
}
