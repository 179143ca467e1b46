using System.Text;
using System.Text.Json;

namespace BitDistill.Distill.Data;

/// <summary>Reads plain-text corpora: .txt (documents separated by blank lines), .jsonl (one {"text": …} per line), each
/// optionally gzip-compressed (.gz); and tables with a "text" column: Parquet, CSV, TSV and JSON arrays (see
/// <see cref="TableReader"/>).</summary>
public static class TextCorpus
{
    /// <summary>The documents of one file, in order. Errors name the file (and line for JSONL).</summary>
    public static IEnumerable<string> ReadDocuments(string path)
    {
        if (Directory.Exists(path)) throw new FileNotFoundException($"corpus file '{path}' is a folder; give a file", path);
        if (!File.Exists(path)) throw new FileNotFoundException($"corpus file '{path}' does not exist", path);
        bool gz = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase);
        string inner = gz ? path[..^3] : path;
        var ext = Path.GetExtension(inner).ToLowerInvariant();
        if (ext is ".parquet" or ".csv" or ".tsv" or ".json") return Table(path, "text");
        return ext == ".jsonl" ? Jsonl(path, gz) : Paragraphs(path, gz);
    }

    /// <summary>The <paramref name="field"/> column of a table file, one document per row (null or empty cells skipped).</summary>
    public static IEnumerable<string> Table(string path, string field)
    {
        var reader = TableReader.Open(path);
        if (!reader.Columns.Contains(field))
            throw new InvalidDataException($"{path}: corpus field '{field}' is missing (columns: {string.Join(", ", reader.Columns)})");
        if (reader is ParquetTableReader pq) pq.Select = [field];
        return Rows(reader, field);
    }

    private static IEnumerable<string> Rows(TableReader reader, string field)
    {
        foreach (var row in reader.ReadRows())
        {
            if (row.Problem is not null) throw new InvalidDataException($"{row.Origin}: {row.Problem}");
            if (row.FieldProblems is { } fp && fp.TryGetValue(field, out var p)) throw new InvalidDataException($"{row.Origin}: field '{field}' {p}");
            if (row.Values.TryGetValue(field, out var v) && !string.IsNullOrWhiteSpace(v)) yield return v;
        }
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
