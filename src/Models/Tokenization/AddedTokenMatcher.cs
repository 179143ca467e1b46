using System.Buffers;

namespace BitDistill.Models.Tokenization;

/// <summary>Splits text around added tokens, leftmost-longest, as Hugging Face's AddedVocabulary does.</summary>
internal sealed class AddedTokenMatcher
{
    /// <summary>A piece of the input: plain text (TokenId &lt; 0) or one added token.</summary>
    internal readonly record struct Segment(int Start, int Length, int TokenId);

    readonly Dictionary<char, AddedToken[]> _byFirstChar;
    readonly SearchValues<char> _firstChars;

    public bool IsEmpty => _byFirstChar.Count == 0;

    public AddedTokenMatcher(IEnumerable<AddedToken> tokens, Func<string, string>? contentTransform = null)
    {
        _byFirstChar = tokens
            .Select(t => contentTransform is null ? t : t with { Content = contentTransform(t.Content) })
            .Where(t => t.Content.Length > 0)
            .GroupBy(t => t.Content[0])
            .ToDictionary(g => g.Key, g => g.OrderByDescending(t => t.Content.Length).ThenBy(t => t.Id).ToArray());
        _firstChars = SearchValues.Create(_byFirstChar.Keys.ToArray());
    }

    public List<Segment> Split(string text)
    {
        var segments = new List<Segment>();
        int textStart = 0, pos = 0;
        while (pos < text.Length)
        {
            int next = text.AsSpan(pos).IndexOfAny(_firstChars);
            if (next < 0) break;
            pos += next;
            AddedToken? hit = null;
            foreach (var t in _byFirstChar[text[pos]])
            {
                if (text.AsSpan(pos).StartsWith(t.Content, StringComparison.Ordinal)
                    && (!t.SingleWord || IsWordBoundary(text, pos, pos + t.Content.Length)))
                {
                    hit = t;
                    break;
                }
            }
            if (hit is null)
            {
                pos++;
                continue;
            }
            int start = pos, end = pos + hit.Content.Length;
            if (hit.LStrip) while (start > textStart && char.IsWhiteSpace(text[start - 1])) start--;
            if (hit.RStrip) while (end < text.Length && char.IsWhiteSpace(text[end])) end++;
            if (start > textStart) segments.Add(new Segment(textStart, start - textStart, -1));
            segments.Add(new Segment(start, end - start, hit.Id));
            textStart = pos = end;
        }
        if (textStart < text.Length) segments.Add(new Segment(textStart, text.Length - textStart, -1));
        return segments;
    }

    static bool IsWordBoundary(string text, int start, int end)
    {
        static bool IsWordChar(char c) => char.IsLetterOrDigit(c) || c == '_';
        return (start == 0 || !IsWordChar(text[start - 1])) && (end >= text.Length || !IsWordChar(text[end]));
    }
}
