using System.Text;
using System.Text.Json;

namespace BitDistill.Distill.Data;

/// <summary>Readers of the public sources the shipped tasks derive from: the UCI "Sentiment Labelled Sentences" JSON arrays
/// and Debian's package descriptions (Translation-en, optionally .gz).</summary>
public static class SourceReaders
{
    /// <summary>UCI sentiment: a JSON array of {"text", "class"} (0 negative, 1 positive) as rows with label "negative" or
    /// "positive" (text trimmed). The final element, which has no class, is skipped; any other row without a valid class is an
    /// error naming file, element and field.</summary>
    public static List<TaskExample> UciSentiment(string path)
    {
        var reader = new JsonArrayTableReader(path);
        var rows = reader.ReadRows().ToList();
        var result = new List<TaskExample>(rows.Count);
        for (int i = 0; i < rows.Count; i++)
        {
            var r = rows[i];
            r.Values.TryGetValue("class", out var cls);
            r.Values.TryGetValue("text", out var text);
            if (cls is null && i == rows.Count - 1) continue;
            if (r.Problem is not null) throw new InvalidDataException($"{r.Origin}: {r.Problem}");
            var label = cls switch
            {
                "0" => "negative",
                "1" => "positive",
                _ => throw new InvalidDataException($"{r.Origin}: field 'class' is {(cls is null ? "missing or null" : $"'{cls}'")}, expected 0 or 1"),
            };
            if (string.IsNullOrWhiteSpace(text)) throw new InvalidDataException($"{r.Origin}: field 'text' is missing or empty");
            result.Add(new TaskExample(text.Trim(), null, label, r.Origin));
        }
        return result;
    }

    /// <summary>Debian descriptions: records separated by blank lines, "Package: name", "Description-en: summary", then the
    /// long description on lines starting with a space (" ." = paragraph break). Records without a summary or long
    /// description are skipped; a continuation line outside a description is an error naming the line.</summary>
    public static IEnumerable<DebianDescription> Debian(string path)
    {
        using var r = TableReader.OpenText(path);
        string? package = null, summary = null; long start = 0, n = 0;
        var desc = new StringBuilder();
        bool inDesc = false;
        string? line;
        while (true)
        {
            line = r.ReadLine();
            n++;
            if (line is null || line.Length == 0)
            {
                if (package is not null && summary is not null && desc.Length > 0)
                    yield return new DebianDescription(package, summary.Trim(), desc.ToString().Trim(), start);
                package = summary = null; desc.Clear(); inDesc = false;
                if (line is null) yield break;
                continue;
            }
            if (line[0] == ' ')
            {
                if (!inDesc) throw new InvalidDataException($"{path}:{n}: a continuation line outside a Description-en field");
                var text = line[1..];
                if (text.Trim() == ".") { desc.Append('\n'); continue; }
                if (desc.Length > 0 && desc[^1] != '\n') desc.Append(' ');
                desc.Append(text.Trim());
                continue;
            }
            inDesc = false;
            if (line.StartsWith("Package: ", StringComparison.Ordinal)) { package = line[9..].Trim(); start = n; }
            else if (line.StartsWith("Description-en: ", StringComparison.Ordinal)) { summary = line[16..]; inDesc = true; }
        }
    }

    /// <summary>Writes rows as JSONL (UTF-8, "\n" line ends, keys in the given order), gzip-compressed when the path ends in
    /// .gz, through a temporary file renamed into place.</summary>
    public static void WriteJsonl(string path, IEnumerable<IReadOnlyList<(string Key, string Value)>> rows)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var tmp = path + ".tmp";
        using (Stream fs = File.Create(tmp))
        {
            using Stream s = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase)
                ? new System.IO.Compression.GZipStream(fs, System.IO.Compression.CompressionLevel.SmallestSize) : fs;
            var opts = new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
            foreach (var row in rows)
            {
                using (var w = new Utf8JsonWriter(s, opts))
                {
                    w.WriteStartObject();
                    foreach (var (k, v) in row) w.WriteString(k, v);
                    w.WriteEndObject();
                }
                s.WriteByte((byte)'\n');
            }
        }
        File.Move(tmp, path, overwrite: true);
    }
}
