using System.Text.Json;

namespace BitDistill.Distill.Data;

/// <summary>A JSON array of objects, streamed element by element (the file is never parsed whole); rows are located as
/// "file: element N" (0-based); columns = keys of the first element.</summary>
public sealed class JsonArrayTableReader : TableReader
{
    /// <summary>Reads <paramref name="path"/>; the first element is parsed now for the column names.</summary>
    public JsonArrayTableReader(string path) : base(path, TableFormat.JsonArray)
    {
        foreach (var row in ReadRows())
        {
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
        using var e = JsonSerializer.DeserializeAsyncEnumerable(r.BaseStream, TaskJsonContext.Default.JsonElement).ToBlockingEnumerable().GetEnumerator();
        long i = 0;
        while (true)
        {
            JsonElement el;
            try
            {
                if (!e.MoveNext()) break;
                el = e.Current;
            }
            catch (JsonException ex)
            {
                throw new InvalidDataException($"{Path}: element {i}: malformed JSON array ({ex.Message}); expected [ {{...}}, {{...}} ]", ex);
            }
            var (values, fieldProblems, problem) = Flatten(el);
            yield return new TableRow(values, $"{Path}: element {i}", problem, fieldProblems);
            i++;
        }
    }

    /// <summary>An object's scalar members as strings (numbers and booleans as written, null as null); a non-object is a
    /// row problem, a nested value a problem of its field (reported only if that field is used).</summary>
    internal static (Dictionary<string, string?> Values, Dictionary<string, string>? FieldProblems, string? Problem) Flatten(JsonElement el)
    {
        var values = new Dictionary<string, string?>(StringComparer.Ordinal);
        if (el.ValueKind != JsonValueKind.Object) return (values, null, $"expected a JSON object, got {el.ValueKind}");
        Dictionary<string, string>? problems = null;
        foreach (var p in el.EnumerateObject())
        {
            switch (p.Value.ValueKind)
            {
                case JsonValueKind.String: values[p.Name] = p.Value.GetString(); break;
                case JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False: values[p.Name] = p.Value.GetRawText(); break;
                case JsonValueKind.Null: values[p.Name] = null; break;
                default:
                    values[p.Name] = null;
                    (problems ??= new(StringComparer.Ordinal))[p.Name] = $"is a JSON {p.Value.ValueKind}, expected a string or a number";
                    break;
            }
        }
        return (values, problems, null);
    }
}
