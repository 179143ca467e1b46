using System.Diagnostics;

namespace BitDistill.Tests.Cli;

/// <summary>A fact that needs Open MPI's mpirun (Debian: openmpi-bin; .ci/run installs it): skipped, saying so, where it is
/// absent. Runs mpirun jobs of the built bitdistill.</summary>
public sealed class MpiFactAttribute : FactAttribute
{
    /// <summary>Marks the test skipped when mpirun is not on PATH.</summary>
    public MpiFactAttribute()
    {
        if (MpiRun is null) Skip = "mpirun not found (install openmpi-bin to run the data-parallel tests)";
    }

    /// <summary>The mpirun executable, or null.</summary>
    public static string? MpiRun { get; } = OperatingSystem.IsLinux()
        ? (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, "mpirun")).FirstOrDefault(File.Exists)
        : null;

    /// <summary>Starts <c>mpirun -np N dotnet bitdistill.dll args…</c> (as root too, oversubscribing a small machine), with
    /// stdout and stderr going to <paramref name="log"/>.</summary>
    public static Process Start(int ranks, string log, IReadOnlyDictionary<string, string>? env, params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "bitdistill.dll");
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h && File.Exists(h) ? h : "dotnet";
        var command = string.Join(' ', new[] { MpiRun!, "-np", ranks.ToString(System.Globalization.CultureInfo.InvariantCulture), "--oversubscribe", "--bind-to", "none", dotnet, dll }
            .Concat(args).Select(Quote)) + " > " + Quote(log) + " 2>&1";
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(command);
        psi.Environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1";
        psi.Environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1";
        foreach (var (k, v) in env ?? new Dictionary<string, string>()) psi.Environment[k] = v;
        return Process.Start(psi)!;
    }

    /// <summary>Runs a job to its end (at most <paramref name="timeout"/>); exit code and output.</summary>
    public static (int Code, string Output) Run(int ranks, string log, TimeSpan timeout, params string[] args)
    {
        using var p = Start(ranks, log, null, args);
        if (!p.WaitForExit(timeout)) { p.Kill(true); throw new TimeoutException($"mpirun {string.Join(' ', args)} ran past {timeout}: {File.ReadAllText(log)}"); }
        return (p.ExitCode, File.ReadAllText(log));
    }

    private static string Quote(string s) => "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
