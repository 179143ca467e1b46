namespace BitDistill.Distill.Data;

/// <summary>Which columns of a task file hold what (the <c>--text-field</c>, <c>--text-pair-field</c>, <c>--label-field</c>,
/// <c>--document-field</c> and <c>--summary-field</c> flags). Classification reads <see cref="Text"/>, optionally
/// <see cref="TextPair"/>, and <see cref="Label"/> (string or integer labels, kept as their text); summarization reads
/// <see cref="Document"/> and <see cref="Summary"/>. A null field is detected from the file's columns by
/// <see cref="TaskFormats.Detect"/>.</summary>
public sealed record TaskFields(string? Text = null, string? TextPair = null, string? Label = null, string? Document = null, string? Summary = null)
{
    /// <summary>The input column for <paramref name="kind"/> (text or document).</summary>
    public string? InputField(TaskKind kind) => kind == TaskKind.Classification ? Text : Document;

    /// <summary>The answer column for <paramref name="kind"/> (label or summary).</summary>
    public string? AnswerField(TaskKind kind) => kind == TaskKind.Classification ? Label : Summary;

    /// <summary>These fields with the unset ones taken from <paramref name="detected"/>.</summary>
    public TaskFields Or(TaskFields detected) => new(Text ?? detected.Text, TextPair ?? detected.TextPair, Label ?? detected.Label,
        Document ?? detected.Document, Summary ?? detected.Summary);

    /// <inheritdoc/>
    public override string ToString() => string.Join(", ", new[] { ("text", Text), ("text-pair", TextPair), ("label", Label), ("document", Document), ("summary", Summary) }
        .Where(p => p.Item2 is not null).Select(p => $"{p.Item1}={p.Item2}"));
}
