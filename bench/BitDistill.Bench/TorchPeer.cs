using System.Diagnostics;
using System.Globalization;

namespace BitDistill.Bench;

/// <summary>Runs a PyTorch peer script from bench/peers the fair way (../shared/DESIGN.md, "Peers"): Debian's /usr/bin/python3,
/// OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset, OPENBLAS_NUM_THREADS = the thread count compared.</summary>
public static class TorchPeer
{
    private const string Python = "/usr/bin/python3";

    /// <summary>Runs bench/peers/<paramref name="scriptName"/> with the thread count as its argument, echoing its output.
    /// Returns (true, stdout), or (false, why it could not run or the last line of its stderr).</summary>
    public static (bool ok, string output) Run(string scriptName, int threads, params string[] extraEnv)
    {
        string script = Find(scriptName);
        if (!File.Exists(Python)) return (false, $"{Python} not found");
        if (script.Length == 0) return (false, $"bench/peers/{scriptName} not found");
        var env = new[] { "-u", "OPENBLAS_CORETYPE", "-u", "OPENBLAS_L2_SIZE", $"OPENBLAS_NUM_THREADS={threads}" }.Concat(extraEnv).ToArray();
        var psi = new ProcessStartInfo("env") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in env.Append(Python).Append(script).Append(threads.ToString(CultureInfo.InvariantCulture)))
            psi.ArgumentList.Add(arg);
        Console.WriteLine($"running: env {string.Join(' ', env)} {Python} {script} {threads}");
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        string output = stdout.Result;
        Console.Write(output);
        if (p.ExitCode != 0)
            return (false, (stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault() ?? $"exit code {p.ExitCode}").Trim());
        return (true, output);
    }

    /// <summary>The script's path relative to the current directory, found by walking up to the repository; "" if absent.</summary>
    private static string Find(string scriptName)
    {
        for (var dir = new DirectoryInfo(Directory.GetCurrentDirectory()); dir != null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "bench", "peers", scriptName);
            if (File.Exists(candidate)) return Path.GetRelativePath(Directory.GetCurrentDirectory(), candidate);
        }
        return "";
    }
}
