namespace BitDistill.Tensors.SafeTensors;

/// <summary>A safetensors file (or index) is malformed; the message names the file and, where relevant, the tensor.</summary>
public sealed class SafeTensorsFormatException : FormatException
{
    /// <summary>Creates the exception; the message becomes "file: tensor 'name': problem".</summary>
    public SafeTensorsFormatException(string filePath, string? tensorName, string problem, Exception? inner = null)
        : base(Compose(filePath, tensorName, problem), inner)
    {
        FilePath = filePath; TensorName = tensorName;
    }

    /// <summary>The file that is malformed.</summary>
    public string FilePath { get; }
    /// <summary>The tensor the problem is about, if any.</summary>
    public string? TensorName { get; }

    private static string Compose(string file, string? tensor, string problem) =>
        tensor is null ? $"safetensors file '{file}': {problem}" : $"safetensors file '{file}', tensor '{tensor}': {problem}";
}
