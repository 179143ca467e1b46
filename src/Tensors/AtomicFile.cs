using System.Text;

namespace BitDistill.Tensors;

/// <summary>Writes a file so that readers never see it half written and an interrupted write never damages the old one: the
/// content goes to a hidden temporary file in the same folder (unique per process and call), which is then renamed over
/// the target; a failed write removes the temporary file. The folder is created if needed.</summary>
public static class AtomicFile
{
    /// <summary>Writes <paramref name="content"/> as UTF-8 without a byte-order mark.</summary>
    public static void WriteAllText(string path, string content) => Write(path, tmp => File.WriteAllText(tmp, content, new UTF8Encoding(false)));

    /// <summary>Writes <paramref name="bytes"/>.</summary>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        var copy = bytes.ToArray();
        Write(path, tmp => File.WriteAllBytes(tmp, copy));
    }

    /// <summary>Lets <paramref name="write"/> create the temporary file (e.g. a library that saves to a path), then renames it.</summary>
    public static void Write(string path, Action<string> write)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(write);
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        // the extension is kept last, so writers that pick a format by it (PNG) still do
        var tmp = Path.Combine(dir, $".{Path.GetFileNameWithoutExtension(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp{Path.GetExtension(full)}");
        try
        {
            write(tmp);
            File.Move(tmp, full, overwrite: true);
        }
        finally { if (File.Exists(tmp)) File.Delete(tmp); }
    }
}
