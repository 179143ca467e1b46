using BitDistill.Kernels;

namespace BitDistill.Tests;

/// <summary>Sgemm's steady state allocates nothing, counted process-wide (worker threads included), so it runs in the serial
/// collection where no other test allocates meanwhile.</summary>
[Collection(SerialCollection.Name)]
public class SgemmAllocationTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void SteadyStateCallsDoNotAllocate(int dop)
    {
        using var _ = KernelContext.Override(degreeOfParallelism: dop);
        int m = 160, n = 144, k = 300;   // blocked path, two threads at dop 2
        var a = SgemmTests.Random(m * k, 1); var b = SgemmTests.Random(k * n, 2); var c = new float[m * n];
        for (int i = 0; i < 3; i++) Sgemm.Multiply(false, true, m, n, k, 1f, a, k, b, k, 0f, c, n);
        // Process-wide count (workers included); the test host may allocate on its own threads meanwhile, so a
        // systematic per-call allocation is one that shows up in every one of several attempts.
        long least = long.MaxValue;
        for (int attempt = 0; attempt < 5 && least > 0; attempt++)
        {
            long before = GC.GetTotalAllocatedBytes(precise: true);
            for (int i = 0; i < 5; i++) Sgemm.Multiply(false, true, m, n, k, 1f, a, k, b, k, 0f, c, n);
            least = Math.Min(least, GC.GetTotalAllocatedBytes(precise: true) - before);
        }
        Assert.Equal(0, least);
    }
}
