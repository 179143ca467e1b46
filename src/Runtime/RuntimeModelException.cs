namespace BitDistill.Runtime;

/// <summary>A model folder the runtime cannot run: a bad or unsupported config.json field, or a missing, unexpected or
/// mis-shaped checkpoint tensor. The message reads "FILE: field 'NAME': PROBLEM" or "FILE: tensor 'NAME': PROBLEM".</summary>
public sealed class RuntimeModelException : FormatException
{
    /// <summary>Creates the error; <paramref name="kind"/> is "field" or "tensor" (or null when no single name is to blame).</summary>
    public RuntimeModelException(string filePath, string? kind, string? name, string problem, Exception? inner = null)
        : base(name is null ? $"{filePath}: {problem}" : $"{filePath}: {kind} '{name}': {problem}", inner)
    {
        FilePath = filePath; Name = name;
    }

    /// <summary>The config or checkpoint file (or folder) at fault.</summary>
    public string FilePath { get; }
    /// <summary>The offending field or tensor, if one is to blame.</summary>
    public string? Name { get; }
}
