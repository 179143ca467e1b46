namespace BitDistill.Models;

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
