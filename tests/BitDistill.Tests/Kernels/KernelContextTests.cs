using System.Collections.Concurrent;
using BitDistill.Kernels;

namespace BitDistill.Tests;

/// <summary>KernelContext overrides are per thread, and the kernel worker team runs every chunk under the context of the
/// thread that dispatched it. Serial: the checks need the worker team free, so that chunks really run on workers.</summary>
[Collection(SerialCollection.Name)]
public class KernelContextTests
{
    private const int Chunks = 4;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    /// <summary>What one chunk of a StaticParallel.For saw: the context, the DOP it would split by, and whether it ran on a worker.</summary>
    private readonly record struct Sighting(KernelContext Context, int Threads, bool OnWorker);

    /// <summary>One StaticParallel.For of <see cref="Chunks"/> chunks on the calling thread; returns what each chunk saw.</summary>
    private static List<Sighting> Observe()
    {
        int caller = Environment.CurrentManagedThreadId;
        var seen = new ConcurrentBag<Sighting>();
        StaticParallel.For(Chunks, StaticParallel.MinWorkPerThread, (s, e) =>
        {
            // A nested loop inside a worker body runs on one thread; what a kernel there would see is the context's DOP.
            var ctx = KernelContext.Current;
            for (int i = s; i < e; i++) seen.Add(new Sighting(ctx, ctx.DegreeOfParallelism, Environment.CurrentManagedThreadId != caller));
        });
        return [.. seen];
    }

    [Fact]
    public void ConcurrentOverridesAreEachSeenByTheirOwnThreadAndItsWorkers()
    {
        var scalar = KernelContext.Default with { Simd = SimdLevel.Scalar, DegreeOfParallelism = 2, Portable128 = true };
        var widest = KernelContext.Default with { Simd = KernelContext.HardwareSimd, DegreeOfParallelism = 3 };
        var contexts = new[] { scalar, widest };
        var workerSeen = new bool[2];
        var errors = new ConcurrentQueue<string>();
        var deadline = DateTime.UtcNow + Patience;
        bool stop = false;
        // Each round starts when both threads arrive; the barrier's post-phase action decides, once for both, whether to stop.
        using var start = new Barrier(2, _ => stop = (workerSeen[0] && workerSeen[1]) || !errors.IsEmpty || DateTime.UtcNow > deadline);
        var threads = Enumerable.Range(0, 2).Select(t => new Thread(() =>
        {
            try
            {
                using var scope = KernelContext.Use(contexts[t]);
                while (true)
                {
                    start.SignalAndWait();
                    if (stop) break;
                    foreach (var s in Observe())
                    {
                        if (!ReferenceEquals(s.Context, contexts[t])) errors.Enqueue($"thread {t} saw {s.Context} (worker: {s.OnWorker})");
                        if (s.Threads != contexts[t].DegreeOfParallelism) errors.Enqueue($"thread {t} saw DOP {s.Threads}");
                        workerSeen[t] |= s.OnWorker;
                    }
                }
                if (!ReferenceEquals(KernelContext.Current, contexts[t])) errors.Enqueue($"thread {t} lost its override");
            }
            catch (Exception e) { errors.Enqueue(e.ToString()); start.RemoveParticipant(); }
        })).ToArray();
        foreach (var th in threads) th.Start();
        foreach (var th in threads) th.Join();
        Assert.Empty(errors);
        Assert.True(workerSeen[0] && workerSeen[1], $"chunks ran on a worker thread: scalar {workerSeen[0]}, widest {workerSeen[1]}");
        Assert.Same(KernelContext.Default, KernelContext.Current); // this thread never had an override
    }

    [Fact]
    public void ForcedLevelReachesTheWorkerThreads()
    {
        foreach (var level in TestUtil.SimdLevels())
        {
            using var _ = KernelContext.Override(simd: level, degreeOfParallelism: 2);
            var deadline = DateTime.UtcNow + Patience;
            bool onWorker = false;
            while (!onWorker && DateTime.UtcNow < deadline)
                foreach (var s in Observe())
                {
                    Assert.Equal(level, s.Context.Simd);
                    Assert.Equal(2, s.Threads);
                    onWorker |= s.OnWorker;
                }
            Assert.True(onWorker, $"no chunk ran on a worker thread at {level}");
        }
    }

    [Fact]
    public void ConcurrentSgemmAtDifferentLevelsEachMatchesItsOwnLevel()
    {
        // Large enough for the blocked, team-split path; at different SIMD levels the results differ in the last bits, so a
        // level leaking from one thread to the other (or to its workers) shows up as a mismatch.
        int m = 192, n = 160, k = 257;
        var a = SgemmTests.Random(m * k, 31); var b = SgemmTests.Random(k * n, 32);
        var levels = new[] { SimdLevel.Scalar, KernelContext.HardwareSimd };
        var expected = levels.Select(l =>
        {
            using var _ = KernelContext.Override(simd: l, degreeOfParallelism: 1);
            var c = new float[m * n];
            Sgemm.Multiply(false, false, m, n, k, 1f, a, k, b, n, 0f, c, n);
            return c;
        }).ToArray();
        var mismatches = new int[2];
        var threads = Enumerable.Range(0, 2).Select(t => new Thread(() =>
        {
            using var _ = KernelContext.Override(simd: levels[t], degreeOfParallelism: 2);
            var c = new float[m * n];
            for (int r = 0; r < 20; r++)
            {
                Sgemm.Multiply(false, false, m, n, k, 1f, a, k, b, n, 0f, c, n);
                if (!c.AsSpan().SequenceEqual(expected[t])) mismatches[t]++;
            }
        })).ToArray();
        foreach (var th in threads) th.Start();
        foreach (var th in threads) th.Join();
        Assert.Equal([0, 0], mismatches);
    }

    [Fact]
    public void ScopesNestAndRestoreWithoutTouchingDefault()
    {
        var before = KernelContext.Default;
        using (KernelContext.Override(simd: SimdLevel.Scalar))
        {
            Assert.Equal(SimdLevel.Scalar, KernelContext.Current.Simd);
            using (KernelContext.Override(degreeOfParallelism: 1))
            {
                Assert.Equal(SimdLevel.Scalar, KernelContext.Current.Simd);
                Assert.Equal(1, KernelContext.Current.DegreeOfParallelism);
            }
            Assert.Equal(before.DegreeOfParallelism, KernelContext.Current.DegreeOfParallelism);
        }
        Assert.Same(before, KernelContext.Current);
        Assert.Same(before, KernelContext.Default);
    }

    [Fact]
    public void ValuesAreValidated()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => KernelContext.Default with { DegreeOfParallelism = 0 });
        Assert.Throws<ArgumentException>(() => KernelContext.Default with { SgemmBlocking512 = default });
        Assert.Throws<ArgumentOutOfRangeException>(() => new SgemmBlocking(0, 96, 512));
        Assert.Equal(KernelContext.HardwareSimd, (KernelContext.Default with { Simd = SimdLevel.Vector512 }).Simd); // capped
    }

    [Fact]
    public void AScopeDisposedOnAnotherThreadThrows()
    {
        var scope = KernelContext.Override(simd: SimdLevel.Scalar);
        try
        {
            Exception? error = null;
            var th = new Thread(() => { try { scope.Dispose(); } catch (Exception e) { error = e; } });
            th.Start(); th.Join();
            Assert.IsType<InvalidOperationException>(error);
            Assert.Equal(SimdLevel.Scalar, KernelContext.Current.Simd);
        }
        finally { scope.Dispose(); }
        Assert.Same(KernelContext.Default, KernelContext.Current);
    }
}
