using BitDistill.Runtime;

namespace BitDistill.Tests.Runtime;

/// <summary>The runtime stands on Kernels and Tensors only (DESIGN.md's layers): no Autograd graph, no Models, no Distill.</summary>
public sealed class RuntimeLayerTests
{
    [Fact]
    public void TheRuntimeReferencesOnlyKernelsAndTensors()
    {
        var ours = typeof(RuntimeModel).Assembly.GetReferencedAssemblies().Select(a => a.Name!).Where(n => n.StartsWith("BitDistill.", StringComparison.Ordinal)).Order();
        Assert.Equal(["BitDistill.Kernels", "BitDistill.Tensors"], ours);
    }
}
