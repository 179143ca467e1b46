namespace BitDistill.Distill.Data;

/// <summary>Known task-file layouts recognised by their columns: GLUE's SST-2 (sentence, label), MNLI (sentence1, sentence2,
/// gold_label; train.tsv, dev_matched.tsv and dev_mismatched.tsv share the header) and QNLI (question, sentence, label),
/// CNN/DailyMail (article, highlights), and the generic text/text_pair/label and document/summary layouts.</summary>
public static class TaskFormats
{
    /// <summary>A named layout: the columns it needs and the fields they fill.</summary>
    private sealed record Layout(string Name, TaskKind Kind, string[] Needs, TaskFields Fields);

    private static readonly Layout[] Layouts =
    [
        new("GLUE MNLI", TaskKind.Classification, ["sentence1", "sentence2", "gold_label"], new(Text: "sentence1", TextPair: "sentence2", Label: "gold_label")),
        new("GLUE QNLI", TaskKind.Classification, ["question", "sentence", "label"], new(Text: "question", TextPair: "sentence", Label: "label")),
        new("GLUE SST-2", TaskKind.Classification, ["sentence", "label"], new(Text: "sentence", Label: "label")),
        new("premise/hypothesis", TaskKind.Classification, ["premise", "hypothesis", "label"], new(Text: "premise", TextPair: "hypothesis", Label: "label")),
        new("text pair", TaskKind.Classification, ["text", "text_pair", "label"], new(Text: "text", TextPair: "text_pair", Label: "label")),
        new("text/label", TaskKind.Classification, ["text", "label"], new(Text: "text", Label: "label")),
        new("text/class", TaskKind.Classification, ["text", "class"], new(Text: "text", Label: "class")),
        new("CNN/DailyMail", TaskKind.Summarization, ["article", "highlights"], new(Document: "article", Summary: "highlights")),
        new("document/summary", TaskKind.Summarization, ["document", "summary"], new(Document: "document", Summary: "summary")),
        new("text/summary", TaskKind.Summarization, ["text", "summary"], new(Document: "text", Summary: "summary")),
    ];

    /// <summary>The first known layout of <paramref name="kind"/> whose columns are all present, as (name, fields), or null.</summary>
    public static (string Name, TaskFields Fields)? Detect(IReadOnlyCollection<string> columns, TaskKind kind)
    {
        var set = new HashSet<string>(columns, StringComparer.Ordinal);
        foreach (var l in Layouts)
            if (l.Kind == kind && l.Needs.All(set.Contains)) return (l.Name, l.Fields);
        return null;
    }

    /// <summary>The fields to read from a file with <paramref name="columns"/>: <paramref name="given"/> completed from the
    /// detected layout, every one checked to exist. Errors name the file, the missing field and the columns there are.</summary>
    public static (string Layout, TaskFields Fields) Resolve(string path, IReadOnlyList<string> columns, TaskKind kind, TaskFields? given)
    {
        given ??= new TaskFields();
        var detected = Detect(columns, kind);
        var fields = detected is { } d ? given.Or(d.Fields) : given;
        string layout = detected?.Name ?? "custom";
        var have = string.Join(", ", columns.Select(c => $"'{c}'"));
        bool glue = columns.Contains("sentence") || columns.Contains("sentence1") || columns.Contains("question");
        void Need(string? field, string flag, string role)
        {
            var hint = glue && (role == "label" || layout == "custom") ? " (GLUE's test files carry no labels: evaluate on the dev files)" : "";
            if (field is null)
                throw new InvalidDataException($"{path}: no {role} field: none of the known layouts matches the columns [{have}]; name it with {flag}{hint}");
            if (!columns.Contains(field))
                throw new InvalidDataException($"{path}: the {role} field '{field}' is missing (columns: [{have}]){hint}");
        }
        Need(fields.InputField(kind), kind == TaskKind.Classification ? "--text-field" : "--document-field", kind == TaskKind.Classification ? "text" : "document");
        Need(fields.AnswerField(kind), kind == TaskKind.Classification ? "--label-field" : "--summary-field", kind == TaskKind.Classification ? "label" : "summary");
        if (kind == TaskKind.Classification && fields.TextPair is not null) Need(fields.TextPair, "--text-pair-field", "text-pair");
        return (layout, fields);
    }
}
