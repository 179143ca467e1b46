using System.Diagnostics;

namespace BitDistill.Autograd;

/// <summary>A per-op wall-clock profile of forward and backward passes, for benchmarks. Off by default (one static
/// branch per op). Forward time of an op is the time since the previous op was recorded on the profiling thread, so it
/// includes any untracked work in between; backward time is measured around each <see cref="Function"/>'s backward.</summary>
public static class OpProfiler
{
    private static readonly Dictionary<string, (double Ms, long Calls)> _forward = new(), _backward = new();
    private static long _last;

    /// <summary>Whether ops are timed.</summary>
    public static bool Enabled { get; private set; }

    /// <summary>Starts (and clears) a profile.</summary>
    public static void Start() { _forward.Clear(); _backward.Clear(); Enabled = true; Mark(); }

    /// <summary>Stops profiling.</summary>
    public static void Stop() => Enabled = false;

    /// <summary>Resets the forward clock (call before a forward pass, so set-up time is not charged to the first op).</summary>
    public static void Mark() => _last = Stopwatch.GetTimestamp();

    /// <summary>Forward totals per op name (milliseconds, calls).</summary>
    public static IReadOnlyDictionary<string, (double Ms, long Calls)> Forward => _forward;
    /// <summary>Backward totals per op name (milliseconds, calls).</summary>
    public static IReadOnlyDictionary<string, (double Ms, long Calls)> Backward => _backward;

    internal static void RecordForward(string name)
    {
        long now = Stopwatch.GetTimestamp();
        Add(_forward, name, Stopwatch.GetElapsedTime(_last, now).TotalMilliseconds);
        _last = Stopwatch.GetTimestamp();
    }

    internal static void RecordBackward(string name, long start) => Add(_backward, name, Stopwatch.GetElapsedTime(start).TotalMilliseconds);

    private static void Add(Dictionary<string, (double, long)> d, string name, double ms)
    {
        d.TryGetValue(name, out var v);
        d[name] = (v.Item1 + ms, v.Item2 + 1);
    }
}
