namespace BitDistill.Autograd;

/// <summary>The group of one process (training without MPI): every collective is a no-op.</summary>
public sealed class SingleProcess : ICommunicator
{
    /// <summary>The one instance.</summary>
    public static SingleProcess Instance { get; } = new();

    private SingleProcess() { }

    /// <inheritdoc/>
    public int Rank => 0;
    /// <inheritdoc/>
    public int Size => 1;
    /// <inheritdoc/>
    public void AllReduceSum(Span<float> values) { }
    /// <inheritdoc/>
    public void AllReduceSum(Span<double> values) { }
    /// <inheritdoc/>
    public void Broadcast(Span<byte> data, int root) { }
    /// <inheritdoc/>
    public void Broadcast(Span<float> data, int root) { }
    /// <inheritdoc/>
    public void Barrier() { }
}
