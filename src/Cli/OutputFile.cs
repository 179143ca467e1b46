namespace BitDistill.Cli;

/// <summary>Checks an option naming a file a verb will write at the end of its work, before the work starts: a folder or a
/// file in a folder that does not exist would otherwise fail only after minutes of measuring.</summary>
public static class OutputFile
{
    /// <summary>Throws a <see cref="UsageException"/> naming <paramref name="option"/> when <paramref name="path"/> cannot be
    /// written as a file; null (the option not given) passes.</summary>
    public static void Check(string option, string? path)
    {
        if (path is null) return;
        if (Directory.Exists(path)) throw new UsageException($"{option}: {path} is a folder; give a file name");
        if (Path.GetDirectoryName(Path.GetFullPath(path)) is { } dir && !Directory.Exists(dir))
            throw new UsageException($"{option}: folder {dir} does not exist");
    }
}
