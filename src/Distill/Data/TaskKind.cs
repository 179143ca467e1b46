namespace BitDistill.Distill.Data;

/// <summary>What a task asks of the model: a label for a text or a text pair, or a summary of a document.</summary>
public enum TaskKind
{
    /// <summary>Single text or text pair → one of a fixed set of labels, answered as a label word.</summary>
    Classification,
    /// <summary>Document → a free-text summary, answered token by token and closed by the end-of-text token.</summary>
    Summarization,
}
