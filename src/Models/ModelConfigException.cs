namespace BitDistill.Models;

/// <summary>A model's config.json is malformed or asks for something not implemented; names the file and the field.</summary>
public sealed class ModelConfigException : FormatException
{
    /// <summary>Creates the error; the message reads "FILE: field 'FIELD': PROBLEM".</summary>
    public ModelConfigException(string filePath, string? field, string problem, Exception? inner = null)
        : base(field is null ? $"{filePath}: {problem}" : $"{filePath}: field '{field}': {problem}", inner)
    {
        FilePath = filePath; Field = field;
    }

    /// <summary>The config file (or a description of the source).</summary>
    public string FilePath { get; }
    /// <summary>The offending field, if one is to blame.</summary>
    public string? Field { get; }
}
