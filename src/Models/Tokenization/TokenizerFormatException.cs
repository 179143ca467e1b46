namespace BitDistill.Models.Tokenization;

/// <summary>A tokenizer file is missing, malformed or describes something this tokenizer does not support; the message names the file and the field.</summary>
public sealed class TokenizerFormatException : Exception
{
    /// <summary>The file that was being read.</summary>
    public string FilePath { get; }

    /// <summary>The JSON field (dotted path) or line that was wrong, when known.</summary>
    public string? Field { get; }

    /// <summary>Creates the exception for a file and field.</summary>
    public TokenizerFormatException(string filePath, string? field, string message, Exception? inner = null)
        : base(field is null ? $"{filePath}: {message}" : $"{filePath}: field '{field}': {message}", inner)
    {
        FilePath = filePath;
        Field = field;
    }
}
