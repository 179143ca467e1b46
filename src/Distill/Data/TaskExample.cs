namespace BitDistill.Distill.Data;

/// <summary>One row of a task. <see cref="Text"/> is the text to classify or the document to summarise, <see cref="TextPair"/>
/// the second text of a pair (classification only), <see cref="Answer"/> the label string (classification) or the reference
/// summary (summarization), and <see cref="Origin"/> where the row came from ("file:line", "file: element N" or
/// "file: row N") for messages and reports.</summary>
public sealed record TaskExample(string Text, string? TextPair, string Answer, string Origin)
{
    /// <summary>The input side of the row (text and pair), the key used for duplicate detection and split grouping.</summary>
    public string InputKey => TextPair is null ? Text.Trim() : Text.Trim() + "\u241E" + TextPair.Trim();
}
