using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace BitDistill.Models.Tokenization;

/// <summary>The decoder of a SentencePiece-style BPE (tokenizer.json "decoder": Replace "▁" → " ", ByteFallback, Fuse, Strip):
/// token strings to UTF-8 bytes.</summary>
internal sealed class PieceDecoder
{
    readonly (Regex? Pattern, string? Literal, string Content)[] _replacements;
    readonly bool _byteFallback;

    /// <summary>Characters Strip removes from the start of the whole decoded text (after Fuse); applied by Decode only.</summary>
    public int StripStart { get; }

    /// <summary>Characters Strip removes from the end of the whole decoded text.</summary>
    public int StripStop { get; }

    /// <summary>The character Strip removes.</summary>
    public char StripChar { get; }

    PieceDecoder((Regex?, string?, string)[] replacements, bool byteFallback, char stripChar, int stripStart, int stripStop)
    {
        _replacements = replacements;
        _byteFallback = byteFallback;
        StripChar = stripChar;
        StripStart = stripStart;
        StripStop = stripStop;
    }

    /// <summary>Appends the bytes of one token: "&lt;0xNN&gt;" is the byte NN under ByteFallback, else the replaced text's UTF-8.</summary>
    public void AppendBytes(string token, List<byte> output)
    {
        foreach (var (pattern, literal, content) in _replacements)
            token = literal is not null ? token.Replace(literal, content, StringComparison.Ordinal) : pattern!.Replace(token, content.Replace("$", "$$"));
        if (_byteFallback && token.Length == 6 && token.StartsWith("<0x", StringComparison.Ordinal) && token[5] == '>'
            && byte.TryParse(token.AsSpan(3, 2), System.Globalization.NumberStyles.AllowHexSpecifier, null, out byte b))
        {
            output.Add(b);
            return;
        }
        output.AddRange(Encoding.UTF8.GetBytes(token));
    }

    /// <summary>Applies Strip to the whole decoded text.</summary>
    public string Strip(string text)
    {
        int start = 0, end = text.Length;
        for (int k = 0; k < StripStart && start < end && text[start] == StripChar; k++) start++;
        for (int k = 0; k < StripStop && end > start && text[end - 1] == StripChar; k++) end--;
        return start == 0 && end == text.Length ? text : text[start..end];
    }

    /// <summary>Reads a decoder object; null (no decoder) reads as Gemma's: "▁" → " " and byte fallback.</summary>
    public static PieceDecoder Read(JsonElement? el, string source)
    {
        var replacements = new List<(Regex?, string?, string)>();
        bool byteFallback = false;
        char stripChar = ' ';
        int stripStart = 0, stripStop = 0;
        if (el is not JsonElement d || d.ValueKind == JsonValueKind.Null)
            return new PieceDecoder([(null, "\u2581", " ")], true, ' ', 0, 0);
        void Walk(JsonElement e, string field)
        {
            if (e.ValueKind != JsonValueKind.Object) throw new TokenizerFormatException(source, field, "expected an object");
            string type = TextTokenizer.TypeOf(e, source, field);
            switch (type)
            {
                case "Sequence":
                {
                    int k = 0;
                    foreach (var x in TextTokenizer.Required(e, "decoders", source, field + ".decoders", JsonValueKind.Array).EnumerateArray())
                        Walk(x, $"{field}.decoders[{k++}]");
                    break;
                }
                case "Replace":
                {
                    var pat = TextTokenizer.Required(e, "pattern", source, field + ".pattern", JsonValueKind.Object);
                    string content = TextTokenizer.Required(e, "content", source, field + ".content", JsonValueKind.String).GetString()!;
                    if (pat.TryGetProperty("String", out var lit) && lit.ValueKind == JsonValueKind.String && lit.GetString()!.Length > 0)
                        replacements.Add((null, lit.GetString(), content));
                    else replacements.Add((TextTokenizer.ReadPattern(pat, source, field + ".pattern"), null, content));
                    break;
                }
                case "ByteFallback": byteFallback = true; break;
                case "Fuse": break; // bytes are concatenated anyway
                case "Strip":
                {
                    string c = TextTokenizer.Required(e, "content", source, field + ".content", JsonValueKind.String).GetString()!;
                    if (c.Length != 1) throw new TokenizerFormatException(source, field + ".content", "expected one character");
                    stripChar = c[0];
                    stripStart = e.TryGetProperty("start", out var s) && s.TryGetInt32(out int sv) ? sv : 0;
                    stripStop = e.TryGetProperty("stop", out var t) && t.TryGetInt32(out int tv) ? tv : 0;
                    break;
                }
                default:
                    throw new TokenizerFormatException(source, field + ".type", $"decoder \"{type}\" is not supported for a SentencePiece-style BPE (Replace, ByteFallback, Fuse and Strip are)");
            }
        }
        Walk(d, "decoder");
        return new PieceDecoder(replacements.ToArray(), byteFallback, stripChar, stripStart, stripStop);
    }
}
