using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace BitDistill.Models.Tokenization;

/// <summary>How a Split pre-tokenizer treats the regex matches (Hugging Face SplitDelimiterBehavior).</summary>
internal enum SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous }

/// <summary>One pre-tokenization step: turns each piece into smaller pieces.</summary>
internal abstract class PreTokenizerStep
{
    public abstract void Split(string piece, List<string> output);
}

/// <summary>Hugging Face's Split pre-tokenizer, matching by code point (astral characters keep their Unicode category).</summary>
internal sealed class RegexSplitStep : PreTokenizerStep
{
    readonly Regex _regex;
    readonly SplitBehavior _behavior;
    readonly bool _invert;

    public RegexSplitStep(Regex regex, SplitBehavior behavior, bool invert)
    {
        _regex = regex;
        _behavior = behavior;
        _invert = invert;
    }

    public override void Split(string piece, List<string> output)
    {
        if (piece.Length == 0) return;
        // (start, end, isMatch) covering the piece.
        var parts = new List<(int Start, int End, bool IsMatch)>();
        int last = 0;
        var matches = new List<(int Start, int End)>();
        CodePointRegex.Matches(_regex, piece, matches);
        foreach (var (s, e) in matches)
        {
            if (e == s) continue;
            if (s > last) parts.Add((last, s, false));
            parts.Add((s, e, true));
            last = e;
        }
        if (last < piece.Length) parts.Add((last, piece.Length, false));
        if (_invert) for (int i = 0; i < parts.Count; i++) parts[i] = parts[i] with { IsMatch = !parts[i].IsMatch };

        switch (_behavior)
        {
            case SplitBehavior.Isolated:
                foreach (var p in parts) output.Add(piece[p.Start..p.End]);
                break;
            case SplitBehavior.Removed:
                foreach (var p in parts) if (!p.IsMatch) output.Add(piece[p.Start..p.End]);
                break;
            case SplitBehavior.MergedWithPrevious:
            {
                int start = -1, end = 0;
                foreach (var p in parts)
                {
                    if (p.IsMatch && start >= 0) { end = p.End; continue; }
                    if (start >= 0) output.Add(piece[start..end]);
                    start = p.Start; end = p.End;
                }
                if (start >= 0) output.Add(piece[start..end]);
                break;
            }
            case SplitBehavior.MergedWithNext:
            {
                int start = -1;
                foreach (var p in parts)
                {
                    if (start < 0) start = p.Start;
                    if (!p.IsMatch) { output.Add(piece[start..p.End]); start = -1; }
                }
                if (start >= 0) output.Add(piece[start..]);
                break;
            }
            case SplitBehavior.Contiguous:
            {
                int start = -1, end = 0;
                bool prevMatch = false;
                foreach (var p in parts)
                {
                    if (p.IsMatch && prevMatch) { end = p.End; continue; }
                    if (start >= 0) output.Add(piece[start..end]);
                    start = p.Start; end = p.End; prevMatch = p.IsMatch;
                }
                if (start >= 0) output.Add(piece[start..end]);
                break;
            }
        }
    }
}

/// <summary>The ByteLevel pre-tokenizer: optional prefix space and optional GPT-2 regex split (the byte mapping itself happens in the BPE model).</summary>
internal sealed class ByteLevelStep : PreTokenizerStep
{
    /// <summary>GPT-2's split pattern, used by ByteLevel when use_regex is true.</summary>
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    static readonly Regex Gpt2Regex = new(Gpt2Pattern, RegexOptions.Compiled | RegexOptions.CultureInvariant);

    readonly bool _addPrefixSpace;
    readonly RegexSplitStep? _split;

    public ByteLevelStep(bool addPrefixSpace, bool useRegex)
    {
        _addPrefixSpace = addPrefixSpace;
        _split = useRegex ? new RegexSplitStep(Gpt2Regex, SplitBehavior.Isolated, false) : null;
    }

    public override void Split(string piece, List<string> output)
    {
        if (_addPrefixSpace && !piece.StartsWith(' ')) piece = " " + piece;
        if (_split is null) output.Add(piece);
        else _split.Split(piece, output);
    }
}

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

/// <summary>A pipeline of pre-tokenization steps (tokenizer.json "pre_tokenizer").</summary>
internal sealed class PreTokenizer
{
    readonly PreTokenizerStep[] _steps;

    public PreTokenizer(IEnumerable<PreTokenizerStep> steps) => _steps = steps.ToArray();

    public void Split(string text, List<string> output)
    {
        if (_steps.Length == 0) { if (text.Length > 0) output.Add(text); return; }
        var current = new List<string> { text };
        var next = new List<string>();
        foreach (var step in _steps)
        {
            next.Clear();
            foreach (var piece in current) step.Split(piece, next);
            (current, next) = (next, current);
        }
        foreach (var p in current) if (p.Length > 0) output.Add(p);
    }
}
