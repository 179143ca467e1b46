using System.Text.RegularExpressions;

namespace BitDistill.Models.Tokenization;

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
