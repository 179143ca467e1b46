using System.Text.RegularExpressions;

namespace BitDistill.Models.Tokenization;

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
