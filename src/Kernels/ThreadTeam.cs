using System.Diagnostics;

namespace BitDistill.Kernels;

/// <summary>A small team of persistent worker threads for kernels that split work statically: chunk t always goes to
/// the same logical index, so results do not depend on scheduling. Dispatch allocates nothing (a function pointer and
/// a context pointer), and wake-up is a short spin then a block, which is cheaper than a thread-pool hand-off. Workers run each
/// job under the dispatching thread's <see cref="KernelContext.Current"/>, so a thread's override reaches every chunk.</summary>
internal static unsafe class ThreadTeam
{
    private sealed class Worker
    {
        public readonly ManualResetEventSlim Go = new(false, spinCount: 200);
        public int Index;
    }

    private static readonly object Gate = new();
    private static readonly List<Worker> Workers = new();
    // The caller waits for the workers by spinning, then on a monitor: ManualResetEventSlim allocates on the first wait that
    // blocks (its lock object and wait state, about 2 KB), which could land in any later call, e.g. a decode step.
    private static readonly object DoneGate = new();
    private const int DoneSpins = 200;
    private static delegate*<int, void*, void> _body;
    private static void* _context;
    private static KernelContext? _kernelContext;
    private static int _pending;
    private static Exception? _error;
    [ThreadStatic] private static bool t_inTeam;

    /// <summary>Runs body(t, context) for t in [0, threads), t == 0 on the caller. Falls back to running every chunk
    /// on the caller when the team is busy (another caller, or a nested call from a worker): same results, fewer threads.</summary>
    public static void Run(int threads, delegate*<int, void*, void> body, void* context)
    {
        if (!TryRun(threads, body, context))
            for (int t = 0; t < threads; t++) body(t, context);
    }

    /// <summary>Runs body(t, context) for t in [0, threads) on that many threads at once, and returns true; returns false
    /// without running anything when they cannot run concurrently (team busy or nested call), for bodies that synchronise.</summary>
    public static bool TryRun(int threads, delegate*<int, void*, void> body, void* context)
    {
        if (threads <= 1 || t_inTeam || !Monitor.TryEnter(Gate)) return false;
        try
        {
            while (Workers.Count < threads - 1) Start(Workers.Count + 1);
            _body = body; _context = context; _error = null;
            _kernelContext = KernelContext.Current;
            Volatile.Write(ref _pending, threads - 1);
            for (int i = 0; i < threads - 1; i++) Workers[i].Go.Set();
            t_inTeam = true;
            try { body(0, context); }
            finally
            {
                t_inTeam = false;
                WaitForWorkers();
                _kernelContext = null;
            }
            if (_error is { } e) throw new AggregateException("A kernel worker thread failed.", e);
            return true;
        }
        finally { Monitor.Exit(Gate); }
    }

    // The last worker decrements _pending and then pulses under DoneGate; the caller re-checks _pending under DoneGate before
    // each wait, so a pulse is never missed.
    private static void WaitForWorkers()
    {
        long until = SpinFor();
        while (Volatile.Read(ref _pending) != 0 && Stopwatch.GetTimestamp() < until) Thread.SpinWait(8);
        var spin = new SpinWait();
        for (int i = 0; i < DoneSpins && Volatile.Read(ref _pending) != 0; i++) spin.SpinOnce(sleep1Threshold: -1);
        if (Volatile.Read(ref _pending) == 0) return;
        lock (DoneGate) while (Volatile.Read(ref _pending) != 0) Monitor.Wait(DoneGate);
    }

    // Both sides first spin on the flag without yielding, for up to 100 µs (the serial work between two GEMVs of a decode step
    // is shorter): the spin waits of SpinWait and ManualResetEventSlim call sched_yield after a few rounds, a system call that
    // took about 6 % of all CPU samples of a 2-thread i2 decode in this VM, and yielding gains nothing when every core runs
    // one of our threads. On one core there is nobody to wait for: no spin.
    private static readonly long SpinTicks = Environment.ProcessorCount > 1 ? Stopwatch.Frequency / 10_000 : 0;

    private static long SpinFor() => SpinTicks == 0 ? 0 : Stopwatch.GetTimestamp() + SpinTicks;

    private static void Start(int index)
    {
        var w = new Worker { Index = index };
        var thread = new Thread(() => Loop(w)) { IsBackground = true, Name = $"BitDistill kernel worker {index}" };
        thread.Start();
        Workers.Add(w);
    }

    private static void Loop(Worker w)
    {
        t_inTeam = true;
        while (true)
        {
            long until = SpinFor();
            while (!w.Go.IsSet && Stopwatch.GetTimestamp() < until) Thread.SpinWait(8);
            w.Go.Wait();
            w.Go.Reset();
            var outer = KernelContext.Exchange(_kernelContext);
            try { _body(w.Index, _context); }
            catch (Exception e) { _error = e; }
            finally { KernelContext.Exchange(outer); }
            if (Interlocked.Decrement(ref _pending) == 0) lock (DoneGate) Monitor.PulseAll(DoneGate);
        }
    }
}
