using System.Runtime.InteropServices;

namespace BitDistill.Kernels;

/// <summary>Static work partitioning over <see cref="KernelContext.DegreeOfParallelism"/> threads
/// (of <see cref="KernelContext.Current"/>; the chunks on worker threads run under the caller's context).
/// Each worker always receives the same contiguous range for the same (count, degree), so
/// results are deterministic.</summary>
public static class StaticParallel
{
    /// <summary>Minimum amount of work (in rough scalar operations) worth a thread hand-off.</summary>
    public const long MinWorkPerThread = 32_768;

    /// <summary>Runs body(start, end) over [0, count) split into at most DegreeOfParallelism contiguous chunks.
    /// <paramref name="workPerItem"/> estimates the cost of one item so tiny loops stay on the caller's thread.</summary>
    public static unsafe void For(int count, long workPerItem, Action<int, int> body)
    {
        if (count <= 0) return;
        int threads = Threads(count, workPerItem);
        if (threads == 1) { body(0, count); return; }
        // The persistent spinning team (as SGEMM uses) instead of a thread-pool hand-off; chunk t always runs as logical
        // index t, and if the team is busy every chunk runs on the caller, so results never depend on scheduling.
        var handle = GCHandle.Alloc(body);
        try
        {
            var job = new ForJob { Body = GCHandle.ToIntPtr(handle), Count = count, Threads = threads };
            ThreadTeam.Run(threads, &ForChunk, &job);
        }
        finally { handle.Free(); }
    }

    /// <summary>Runs body(t) for t in [0, threads) (t is a fixed logical index, for per-thread partial results that are
    /// combined in index order afterwards).</summary>
    public static unsafe void ForEachThread(int threads, Action<int> body)
    {
        if (threads <= 1) { body(0); return; }
        For(threads, MinWorkPerThread, (t0, t1) => { for (int t = t0; t < t1; t++) body(t); });
    }

    private struct ForJob
    {
        public IntPtr Body;
        public int Count, Threads;
    }

    private static unsafe void ForChunk(int t, void* ctx)
    {
        ref var j = ref *(ForJob*)ctx;
        var (s, e) = Chunk(j.Count, j.Threads, t);
        if (s >= e) return;
        var body = (Action<int, int>)GCHandle.FromIntPtr(j.Body).Target!;
        bool outer = _inWorker;
        _inWorker = true;
        try { body(s, e); }
        finally { _inWorker = outer; }
    }

    [ThreadStatic] private static bool _inWorker;

    /// <summary>True inside the body of a parallel loop: nested loops then run on the calling thread, so a kernel that
    /// calls another kernel per item (attention calling SGEMM per head) does not oversubscribe the cores.</summary>
    public static bool InWorker => _inWorker;

    /// <summary>How many threads <see cref="For"/> would use.</summary>
    public static int Threads(int count, long workPerItem)
    {
        if (count <= 1 || _inWorker) return 1;
        int dop = KernelContext.Current.DegreeOfParallelism;
        if (dop <= 1) return 1;
        long total = (long)count * Math.Max(1, workPerItem);
        long byWork = Math.Max(1, total / MinWorkPerThread);
        return (int)Math.Min(Math.Min(dop, count), byWork);
    }

    /// <summary>The [start, end) range of chunk t out of n over count items.</summary>
    public static (int start, int end) Chunk(int count, int n, int t)
    {
        int q = count / n, r = count % n;
        int s = t * q + Math.Min(t, r);
        return (s, s + q + (t < r ? 1 : 0));
    }
}
