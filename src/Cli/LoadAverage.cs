namespace BitDistill.Cli;

/// <summary>The machine's 1, 5 and 15-minute load averages, which every benchmark prints before and after it measures
/// (absolute times on a shared machine mean little without them).</summary>
public static class LoadAverage
{
    /// <summary>"1-min 5-min 15-min" from /proc/loadavg, or "n/a" where there is none.</summary>
    public static string Read() => File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";
}
