namespace BitDistill.Autograd;

/// <summary>A collective started without waiting (<see cref="ICommunicator.StartAllReduceSum"/>): its buffer belongs to it
/// until it completes.</summary>
public interface ICollectiveRequest
{
    /// <summary>Whether it has completed (also lets the collective progress).</summary>
    bool Test();
    /// <summary>Returns once it has completed.</summary>
    void Wait();
}
