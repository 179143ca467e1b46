namespace BitDistill.Tests;

/// <summary>Tests that need process-wide state to themselves run in this collection, alone, after the parallel ones:
/// process-wide GC counters, Console.Out/Error, TensorScope.PoisonUninitialized, the kernel worker team. Every other
/// test runs in parallel (kernel settings are per thread: <see cref="BitDistill.Kernels.KernelContext"/>).</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SerialCollection
{
    /// <summary>The collection's name.</summary>
    public const string Name = "Serial";
}
