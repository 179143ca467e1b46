using BitDistill.Kernels;

namespace BitDistill.Tests.Kernels;

/// <summary>The kernel thread team's dispatch allocates nothing on the calling thread, also the first time the caller has to
/// block for a slow worker (a ManualResetEventSlim allocated about 2 KB on its first blocking wait, which could land in any
/// later call, such as a decode step).</summary>
public sealed unsafe class ThreadTeamTests
{
    private static int s_ran, s_slowChunk;

    private static void OneSlowChunk(int t, void* ctx)
    {
        if (t == s_slowChunk) Thread.Sleep(50);
        Interlocked.Increment(ref s_ran);
    }

    [Fact]
    public void BlockingForASlowWorkerAllocatesNothingOnTheCaller()
    {
        // round 0: the caller's own chunk is the slow one, so the worker starts and finishes without the caller blocking;
        // later rounds: the worker's chunk is slow, so the caller spins out and blocks (for the first time, if this test runs alone)
        for (int round = 0; round < 3; round++)
        {
            s_ran = 0;
            s_slowChunk = round == 0 ? 0 : 1;
            long before = GC.GetAllocatedBytesForCurrentThread();
            bool ran = ThreadTeam.TryRun(2, &OneSlowChunk, null);
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            if (!ran) return; // team busy (another caller): nothing to measure
            Assert.Equal(2, s_ran);
            if (round > 0) Assert.Equal(0, allocated);
        }
    }
}
