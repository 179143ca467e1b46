namespace BitDistill.Distill.Data;

/// <summary>A row as token ids: the prompt (template with the row's text, truncated to fit) and the answer (the label word's
/// tokens, or the summary's tokens followed by end-of-text); <see cref="Label"/> is the class index (−1 for summarization),
/// <see cref="Truncated"/> whether the text was cut to fit the maximum length.</summary>
public sealed record EncodedExample(int[] Prompt, int[] Answer, int Label, TaskExample Row, bool Truncated)
{
    /// <summary>Prompt and answer together.</summary>
    public int Length => Prompt.Length + Answer.Length;
}
