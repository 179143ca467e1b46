namespace BitDistill.Autograd;

/// <summary>The collective operations data-parallel training needs from a group of processes (MPI ranks): every rank calls
/// the same operations in the same order. <see cref="SingleProcess"/> is the group of one; the MPI one lives in
/// BitDistill.Parallel, so nothing below the command line depends on MPI being installed.</summary>
public interface ICommunicator
{
    /// <summary>This process's index in the group (0 = the root, which alone writes files and logs).</summary>
    int Rank { get; }
    /// <summary>Number of processes in the group.</summary>
    int Size { get; }
    /// <summary>Replaces <paramref name="values"/> on every rank by their element-wise sum over the ranks.</summary>
    void AllReduceSum(Span<float> values);
    /// <summary>Replaces <paramref name="values"/> on every rank by their element-wise sum over the ranks.</summary>
    void AllReduceSum(Span<double> values);
    /// <summary>Starts summing <paramref name="values"/>[0..<paramref name="count"/>) over the ranks in place and returns at
    /// once, so the sum can travel while the backward pass goes on; every rank starts its collectives in the same order.
    /// By default it sums before returning.</summary>
    ICollectiveRequest StartAllReduceSum(float[] values, int count)
    {
        AllReduceSum(values.AsSpan(0, count));
        return Done.Instance;
    }
    /// <summary>Copies <paramref name="data"/> of rank <paramref name="root"/> into <paramref name="data"/> on every other rank.</summary>
    void Broadcast(Span<byte> data, int root);
    /// <summary>Copies <paramref name="data"/> of rank <paramref name="root"/> into <paramref name="data"/> on every other rank.</summary>
    void Broadcast(Span<float> data, int root);
    /// <summary>Returns when every rank has called it.</summary>
    void Barrier();

    private sealed class Done : ICollectiveRequest
    {
        public static readonly Done Instance = new();
        public bool Test() => true;
        public void Wait() { }
    }
}
