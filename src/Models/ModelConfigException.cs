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

/// <summary>A checkpoint's tensors do not fit the model (missing, unexpected, wrong shape or dtype); names the file and the tensor.</summary>
public sealed class CheckpointException : FormatException
{
    /// <summary>Creates the error; the message reads "FILE: tensor 'NAME': PROBLEM".</summary>
    public CheckpointException(string filePath, string? tensorName, string problem, Exception? inner = null)
        : base(tensorName is null ? $"{filePath}: {problem}" : $"{filePath}: tensor '{tensorName}': {problem}", inner)
    {
        FilePath = filePath; TensorName = tensorName;
    }

    /// <summary>The checkpoint file (or folder) at fault.</summary>
    public string FilePath { get; }
    /// <summary>The offending tensor, if one is to blame.</summary>
    public string? TensorName { get; }
}
