namespace BitDistill.Models.Tokenization;

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
