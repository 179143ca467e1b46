using System.Text;

namespace BitDistill.Distill.Data;

/// <summary>CSV (RFC 4180: comma-separated, fields optionally quoted, "" inside quotes is a quote, quoted fields may hold
/// commas and line breaks; LF or CRLF) and TSV (tab-separated, one record per line, no quoting, as GLUE's files are written)
/// with a header row. Records are located by the line they start on. A quoted field longer than
/// <see cref="MaxFieldChars"/> is an error (an unterminated quote would otherwise swallow the rest of the file).</summary>
public sealed class DelimitedTableReader : TableReader
{
    /// <summary>The longest field accepted, in characters.</summary>
    public const int MaxFieldChars = 1 << 22;

    /// <summary>Reads <paramref name="path"/> as <see cref="TableFormat.Csv"/> or <see cref="TableFormat.Tsv"/>; the header
    /// is read now.</summary>
    public DelimitedTableReader(string path, TableFormat format) : base(path, format)
    {
        if (format is not (TableFormat.Csv or TableFormat.Tsv)) throw new ArgumentOutOfRangeException(nameof(format), format, "expected Csv or Tsv");
        using var r = OpenText(path);
        long line = 1;
        var header = NextRecord(r, ref line, out _);
        if (header is null) throw new InvalidDataException($"{path}: the file is empty (expected a header row)");
        if (header.Count > 0 && header[0].Length > 0 && header[0][0] == '\uFEFF') header[0] = header[0][1..];
        var dup = header.GroupBy(h => h).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null) throw new InvalidDataException($"{path}:1: the header names column '{dup.Key}' twice");
        _columns = header.ToArray();
    }

    private readonly string[] _columns;

    /// <inheritdoc/>
    public override IReadOnlyList<string> Columns => _columns;

    /// <inheritdoc/>
    public override IEnumerable<TableRow> ReadRows()
    {
        using var r = OpenText(Path);
        long line = 1;
        NextRecord(r, ref line, out _);
        while (true)
        {
            long start = line;
            List<string>? fields;
            string? problem;
            try { fields = NextRecord(r, ref line, out problem); }
            catch (InvalidDataException e) { throw new InvalidDataException($"{Path}:{start}: {e.Message}", e); }
            if (fields is null) yield break;
            if (fields.Count == 1 && fields[0].Length == 0 && problem is null) continue;   // blank line
            var values = new Dictionary<string, string?>(StringComparer.Ordinal);
            for (int i = 0; i < Math.Min(fields.Count, _columns.Length); i++) values[_columns[i]] = fields[i];
            if (problem is null && fields.Count != _columns.Length)
                problem = $"{fields.Count} fields, the header has {_columns.Length} ({string.Join(", ", _columns)})";
            yield return new TableRow(values, $"{Path}:{start}", problem);
        }
    }

    /// <summary>The next record's fields, or null at the end of the file; <paramref name="line"/> advances past it.</summary>
    private List<string>? NextRecord(TextReader r, ref long line, out string? problem)
    {
        problem = null;
        if (r.Peek() < 0) return null;
        var fields = new List<string>();
        var sb = new StringBuilder();
        if (Format == TableFormat.Tsv)
        {
            var text = r.ReadLine()!;
            line++;
            fields.AddRange(text.Split('\t'));
            return fields;
        }
        bool quoted = false, wasQuoted = false;
        while (true)
        {
            int c = r.Read();
            if (quoted)
            {
                if (c < 0) throw new InvalidDataException("unterminated quoted field (end of file inside quotes)");
                if (c == '"')
                {
                    if (r.Peek() == '"') { r.Read(); sb.Append('"'); }
                    else { quoted = false; }
                }
                else
                {
                    if (c == '\n') line++;
                    sb.Append((char)c);
                    if (sb.Length > MaxFieldChars) throw new InvalidDataException($"a quoted field is longer than {MaxFieldChars} characters (unterminated quote?)");
                }
                continue;
            }
            if (c < 0 || c == '\n' || c == '\r')
            {
                if (c == '\r' && r.Peek() == '\n') r.Read();
                if (c >= 0) line++;
                fields.Add(sb.ToString());
                return fields;
            }
            if (c == ',') { fields.Add(sb.ToString()); sb.Clear(); wasQuoted = false; continue; }
            if (c == '"' && sb.Length == 0 && !wasQuoted) { quoted = true; wasQuoted = true; continue; }
            if (wasQuoted) problem ??= $"field {fields.Count + 1}: text after the closing quote";
            sb.Append((char)c);
            if (sb.Length > MaxFieldChars) throw new InvalidDataException($"a field is longer than {MaxFieldChars} characters");
        }
    }
}
