using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace BitDistill.Models.Tokenization;

/// <summary>Runs .NET regexes with code-point semantics: each astral character is stood in for by a BMP character of the same Unicode category.</summary>
internal static class CodePointRegex
{
    static readonly char[] Representative = BuildRepresentatives();

    static char[] BuildRepresentatives()
    {
        var r = new char[32];
        void Set(UnicodeCategory c, char ch) => r[(int)c] = ch;
        Set(UnicodeCategory.UppercaseLetter, 'A');
        Set(UnicodeCategory.LowercaseLetter, 'a');
        Set(UnicodeCategory.TitlecaseLetter, '\u01C5');
        Set(UnicodeCategory.ModifierLetter, '\u02B0');
        Set(UnicodeCategory.OtherLetter, '\u05D0');
        Set(UnicodeCategory.NonSpacingMark, '\u0300');
        Set(UnicodeCategory.SpacingCombiningMark, '\u0903');
        Set(UnicodeCategory.EnclosingMark, '\u20DD');
        Set(UnicodeCategory.DecimalDigitNumber, '0');
        Set(UnicodeCategory.LetterNumber, '\u2160');
        Set(UnicodeCategory.OtherNumber, '\u00B2');
        Set(UnicodeCategory.SpaceSeparator, '\u3000');
        Set(UnicodeCategory.LineSeparator, '\u2028');
        Set(UnicodeCategory.ParagraphSeparator, '\u2029');
        Set(UnicodeCategory.Control, '\u0001');
        Set(UnicodeCategory.Format, '\u00AD');
        Set(UnicodeCategory.Surrogate, '\uD800');
        Set(UnicodeCategory.PrivateUse, '\uE000');
        Set(UnicodeCategory.ConnectorPunctuation, '\u203F');
        Set(UnicodeCategory.DashPunctuation, '\u2010');
        Set(UnicodeCategory.OpenPunctuation, '\u2045');
        Set(UnicodeCategory.ClosePunctuation, '\u2046');
        Set(UnicodeCategory.InitialQuotePunctuation, '\u00AB');
        Set(UnicodeCategory.FinalQuotePunctuation, '\u00BB');
        Set(UnicodeCategory.OtherPunctuation, '\u00B6');
        Set(UnicodeCategory.MathSymbol, '\u00AC');
        Set(UnicodeCategory.CurrencySymbol, '\u00A2');
        Set(UnicodeCategory.ModifierSymbol, '\u00B4');
        Set(UnicodeCategory.OtherSymbol, '\u00A9');
        Set(UnicodeCategory.OtherNotAssigned, '\u0378');
        return r;
    }

    /// <summary>The (start, end) UTF-16 ranges of the successive matches of <paramref name="regex"/> in <paramref name="text"/>.</summary>
    public static void Matches(Regex regex, string text, List<(int Start, int End)> output)
    {
        if (!HasSurrogatePair(text))
        {
            foreach (var m in regex.EnumerateMatches(text)) output.Add((m.Index, m.Index + m.Length));
            return;
        }
        // Substitute each surrogate pair by one character; map[i] is the original index of substituted index i.
        var sb = new StringBuilder(text.Length);
        var map = new List<int>(text.Length + 1);
        for (int i = 0; i < text.Length; i++)
        {
            map.Add(i);
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                var cat = CharUnicodeInfo.GetUnicodeCategory(char.ConvertToUtf32(text[i], text[i + 1]));
                sb.Append(Representative[(int)cat]);
                i++;
            }
            else sb.Append(text[i]);
        }
        map.Add(text.Length);
        var sub = sb.ToString();
        foreach (var m in regex.EnumerateMatches(sub)) output.Add((map[m.Index], map[m.Index + m.Length]));
    }

    static bool HasSurrogatePair(string s)
    {
        int i = s.AsSpan().IndexOfAnyInRange('\uD800', '\uDBFF');
        return i >= 0 && i + 1 < s.Length;
    }
}
