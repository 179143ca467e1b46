using BitDistill.Autograd;

namespace BitDistill.Cli;

/// <summary>The folder a verb writes, checked before any work starts and held for the run: it must not be one of the verb's
/// inputs, must not be a file, must be writable, and must be empty, or this verb's own previous output (a marker file says
/// so; an interrupted run resumes there), unless --overwrite; an exclusive lock file stops a second writer. Under MPI only
/// rank 0 writes it: the other ranks get a scratch folder of their own, removed when they finish.</summary>
public sealed class OutputFolder : IDisposable
{
    /// <summary>The marker a verb leaves in its output folder (its content is the verb's name).</summary>
    public const string MarkerName = ".bitdistill-output";
    /// <summary>The lock file held while a verb writes the folder.</summary>
    public const string LockName = ".bitdistill-lock";

    private readonly FileStream _lock;
    private readonly bool _scratch;

    private OutputFolder(string path, FileStream lockFile, bool scratch = false) { Path = path; _lock = lockFile; _scratch = scratch; }

    /// <summary>The folder's full path.</summary>
    public string Path { get; }

    /// <summary>Checks and claims <paramref name="path"/>, given as --output, for <paramref name="verb"/>; <paramref name="inputs"/>
    /// are the paths the verb reads (files or folders), which the output may not be or contain.</summary>
    public static OutputFolder Claim(string verb, string path, bool overwrite, params string?[] inputs) =>
        Claim(verb, "--output", path, overwrite, inputs);

    /// <summary>Checks and claims <paramref name="path"/> for <paramref name="verb"/>, whose option <paramref name="option"/>
    /// (e.g. compare's --report) named it: every refusal names that option.</summary>
    public static OutputFolder Claim(string verb, string option, string path, bool overwrite, params string?[] inputs)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new UsageException($"{option} must name a folder");
        if (!DataParallel.IsRoot)
        {
            var scratch = Directory.CreateTempSubdirectory($"bitdistill-rank{DataParallel.Communicator.Rank}-").FullName;
            return new OutputFolder(scratch, new FileStream(System.IO.Path.Combine(scratch, LockName), FileMode.Create, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose), scratch: true);
        }
        var full = System.IO.Path.GetFullPath(path);
        if (File.Exists(full)) throw new UsageException($"{option} {path} is a file; give a folder");
        foreach (var input in inputs)
        {
            if (input is null) continue;
            var inFull = System.IO.Path.GetFullPath(input).TrimEnd(System.IO.Path.DirectorySeparatorChar);
            var outFull = full.TrimEnd(System.IO.Path.DirectorySeparatorChar);
            if (inFull == outFull || inFull.StartsWith(outFull + System.IO.Path.DirectorySeparatorChar, StringComparison.Ordinal))
                throw new UsageException($"{option} {path} would overwrite the input {input}; write to another folder");
        }
        Directory.CreateDirectory(full);
        var marker = System.IO.Path.Combine(full, MarkerName);
        var entries = Directory.EnumerateFileSystemEntries(full).Select(System.IO.Path.GetFileName).Where(n => n is not (LockName or MarkerName)).ToArray();
        bool ours = File.Exists(marker) && File.ReadAllText(marker).Trim() == verb;
        if (entries.Length > 0 && !ours && !overwrite)
            throw new UsageException($"{option} {path} is not empty and was not written by `bitdistill {verb}`; choose an empty folder or pass --overwrite");
        FileStream lockFile;
        try { lockFile = new FileStream(System.IO.Path.Combine(full, LockName), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose); }
        catch (UnauthorizedAccessException) { throw new UsageException($"{option} {path} is not writable"); }
        catch (IOException) { throw new UsageException($"{option} {path} is being written by another bitdistill process (it holds {LockName})"); }
        try { File.WriteAllText(marker, verb + "\n"); }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException) { lockFile.Dispose(); throw new UsageException($"{option} {path} is not writable ({e.Message})"); }
        return new OutputFolder(full, lockFile);
    }

    /// <summary>Releases the lock.</summary>
    public void Dispose()
    {
        _lock.Dispose();
        if (_scratch && Directory.Exists(Path)) Directory.Delete(Path, true);
    }
}
