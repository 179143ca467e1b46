namespace BitDistill.Distill.Data;

/// <summary>How a row becomes a prompt: a format with the slots <c>{text}</c> and (for pairs) <c>{text_pair}</c>; the
/// answer follows the prompt directly, after <see cref="AnswerPrefix"/> (a space, so label words are encoded as they appear
/// after "Label:"). The prompt ends right before the answer, so label-word classification reads the next-token logits at the
/// last prompt position. Literal parts and slots are tokenised separately, so a slot can be truncated by tokens and the
/// same row always gives the same ids in training and at inference.</summary>
public sealed record PromptTemplate(string Single, string Pair, string Summary, string AnswerPrefix = " ")
{
    /// <summary>"Text: {text}\nLabel:", "Text: {text}\nSecond text: {text_pair}\nLabel:", "Document: {text}\nSummary:".</summary>
    public static PromptTemplate Default { get; } = new("Text: {text}\nLabel:", "Text: {text}\nSecond text: {text_pair}\nLabel:", "Document: {text}\nSummary:");

    /// <summary>The format for a row of <paramref name="kind"/> (pair or not).</summary>
    public string FormatFor(TaskKind kind, bool pair) => kind == TaskKind.Summarization ? Summary : pair ? Pair : Single;

    /// <summary>The format split into literal parts and slots (0 = text, 1 = text pair); checked to hold each slot once.</summary>
    public static IReadOnlyList<(string? Literal, int Slot)> Parse(string format, bool pair)
    {
        var parts = new List<(string?, int)>();
        int i = 0, text = 0, pairs = 0;
        while (i < format.Length)
        {
            int a = format.IndexOf("{text}", i, StringComparison.Ordinal), b = format.IndexOf("{text_pair}", i, StringComparison.Ordinal);
            int next = a < 0 ? b : b < 0 ? a : Math.Min(a, b);
            if (next < 0) { parts.Add((format[i..], -1)); break; }
            if (next > i) parts.Add((format[i..next], -1));
            bool isPair = next == b;
            parts.Add((null, isPair ? 1 : 0));
            if (isPair) pairs++; else text++;
            i = next + (isPair ? "{text_pair}".Length : "{text}".Length);
        }
        if (text != 1) throw new ArgumentException($"prompt template \"{format}\" must contain {{text}} exactly once");
        if (pairs != (pair ? 1 : 0)) throw new ArgumentException($"prompt template \"{format}\" must contain {{text_pair}} {(pair ? "exactly once" : "not at all")}");
        return parts;
    }
}
