namespace BitDistill.Distill.Data;

/// <summary>One task file read into <see cref="TaskExample"/>s: the reader picked by <see cref="TableReader.Open"/>, the
/// fields resolved (and checked) before any row is read, every row validated. A malformed row is an
/// <see cref="InvalidDataException"/> naming file, line (or element/row) and field, unless <c>skipBadRows</c>, which counts
/// it in <see cref="BadRows"/> instead; a file with no usable row is always an error.</summary>
public sealed class TaskFile
{
    private TaskFile(string path, TaskKind kind, string layout, TaskFields fields, TableFormat format, List<TaskExample> rows, BadRowReport bad)
    {
        Path = path; Kind = kind; Layout = layout; Fields = fields; Format = format; Rows = rows; BadRows = bad;
    }

    /// <summary>The file.</summary>
    public string Path { get; }
    /// <summary>The task kind it was read as.</summary>
    public TaskKind Kind { get; }
    /// <summary>The recognised layout ("GLUE SST-2", "CNN/DailyMail", ... or "custom").</summary>
    public string Layout { get; }
    /// <summary>The fields read.</summary>
    public TaskFields Fields { get; }
    /// <summary>The container format.</summary>
    public TableFormat Format { get; }
    /// <summary>The usable rows, in file order.</summary>
    public IReadOnlyList<TaskExample> Rows { get; }
    /// <summary>Rows skipped (always zero without skipBadRows).</summary>
    public BadRowReport BadRows { get; }

    /// <summary>How many skipped-row messages a report keeps.</summary>
    public const int KeptMessages = 5;

    /// <summary>Reads <paramref name="path"/> as a <paramref name="kind"/> task with <paramref name="fields"/> (null fields
    /// detected from the columns), at most <paramref name="maxRows"/> usable rows.</summary>
    public static TaskFile Read(string path, TaskKind kind, TaskFields? fields = null, bool skipBadRows = false, int maxRows = int.MaxValue)
    {
        try { return ReadCore(path, kind, fields, skipBadRows, maxRows); }
        catch (System.Text.DecoderFallbackException e) { throw new InvalidDataException($"{path}: not valid UTF-8 ({e.Message})", e); }
    }

    private static TaskFile ReadCore(string path, TaskKind kind, TaskFields? fields, bool skipBadRows, int maxRows)
    {
        var reader = TableReader.Open(path);
        var (layout, f) = TaskFormats.Resolve(path, reader.Columns, kind, fields);
        string inputField = f.InputField(kind)!, answerField = f.AnswerField(kind)!;
        string? pairField = kind == TaskKind.Classification ? f.TextPair : null;
        if (reader is ParquetTableReader pq) pq.Select = new[] { inputField, answerField, pairField }.OfType<string>().ToHashSet();

        var rows = new List<TaskExample>();
        var messages = new List<string>();
        int bad = 0;
        Collect(reader, kind, inputField, pairField, answerField, skipBadRows, maxRows, rows, messages, ref bad);
        if (rows.Count == 0)
            throw new InvalidDataException($"{path}: no usable row" + (bad > 0 ? $" ({bad} bad rows skipped, first: {messages[0]})" : " (the file has no data rows)"));
        return new TaskFile(path, kind, layout, f, reader.Format, rows, new BadRowReport(path, bad, messages));
    }

    private static void Collect(TableReader reader, TaskKind kind, string inputField, string? pairField, string answerField, bool skipBadRows, int maxRows,
        List<TaskExample> rows, List<string> messages, ref int bad)
    {
        foreach (var row in reader.ReadRows())
        {
            if (rows.Count >= maxRows) break;
            string? problem = row.Problem;
            string? input = null, pair = null, answer = null;
            if (problem is null)
            {
                input = Field(row, inputField, kind == TaskKind.Classification ? "text" : "document", ref problem);
                if (pairField is not null) pair = Field(row, pairField, "text-pair", ref problem);
                answer = Field(row, answerField, kind == TaskKind.Classification ? "label" : "summary", ref problem);
            }
            if (problem is not null)
            {
                var message = $"{row.Origin}: {problem}";
                if (!skipBadRows) throw new InvalidDataException(message + " (--skip-bad-rows skips such rows)");
                bad++;
                if (messages.Count < KeptMessages) messages.Add(message);
                continue;
            }
            rows.Add(new TaskExample(input!, pair, kind == TaskKind.Classification ? answer!.Trim() : answer!, row.Origin));
        }
    }

    private static string? Field(TableRow row, string name, string role, ref string? problem)
    {
        if (problem is not null) return null;
        if (row.FieldProblems is { } fp && fp.TryGetValue(name, out var p)) { problem = $"{role} field '{name}' {p}"; return null; }
        if (!row.Values.TryGetValue(name, out var v)) { problem = $"{role} field '{name}' is missing"; return null; }
        if (v is null) { problem = $"{role} field '{name}' is null"; return null; }
        if (string.IsNullOrWhiteSpace(v)) { problem = $"{role} field '{name}' is empty"; return null; }
        return v;
    }
}
