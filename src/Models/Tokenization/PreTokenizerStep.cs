namespace BitDistill.Models.Tokenization;

/// <summary>One pre-tokenization step: turns each piece into smaller pieces.</summary>
internal abstract class PreTokenizerStep
{
    public abstract void Split(string piece, List<string> output);
}
