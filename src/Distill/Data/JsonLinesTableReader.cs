using System.Text.Json;

namespace BitDistill.Distill.Data;

/// <summary>JSONL: one JSON object per line (blank lines ignored); columns = keys of the first object.</summary>
public sealed class JsonLinesTableReader : TableReader
{
    /// <summary>Reads <paramref name="path"/>; the first object is parsed now for the column names.</summary>
    public JsonLinesTableReader(string path) : base(path, TableFormat.JsonLines)
    {
        foreach (var row in ReadRows())
        {
            if (row.Problem is not null) throw new InvalidDataException($"{row.Origin}: {row.Problem}");
            _columns = row.Values.Keys.ToArray();
            break;
        }
    }

    private readonly string[] _columns = [];

    /// <inheritdoc/>
    public override IReadOnlyList<string> Columns => _columns;

    /// <inheritdoc/>
    public override IEnumerable<TableRow> ReadRows()
    {
        using var r = OpenText(Path);
        string? line; long n = 0;
        while ((line = r.ReadLine()) is not null)
        {
            n++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            var origin = $"{Path}:{n}";
            Dictionary<string, string?>? values = null; Dictionary<string, string>? fieldProblems = null; string? problem = null;
            try
            {
                using var doc = JsonDocument.Parse(line);
                (values, fieldProblems, problem) = JsonArrayTableReader.Flatten(doc.RootElement);
            }
            catch (JsonException e) { problem = $"malformed JSON ({e.Message})"; }
            yield return new TableRow(values ?? [], origin, problem, fieldProblems);
        }
    }
}
