using System.Reflection;
using BitDistill.Backends.Ilgpu;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime.Cuda;

namespace BitDistill.Tests.Backends;

/// <summary>Every device kernel compiles to PTX with ILGPU's PTX backend, which needs no GPU, so CUDA compilation errors
/// (unsupported intrinsics, managed calls, shared memory misuse) are caught on machines without one.</summary>
public class IlgpuPtxCompilationTests
{
    [Fact]
    public void EveryKernelCompilesToPtxForSm70()
    {
        var kernels = typeof(IlgpuKernels).GetMethods(BindingFlags.Public | BindingFlags.Static).Where(m => m.ReturnType == typeof(void)).ToArray();
        Assert.True(kernels.Length >= 20, $"only {kernels.Length} kernels found");
        // the fused losses' and the training solves' kernels are among them (each in its own partial file)
        foreach (var name in new[] { "CrossEntropyRowLosses", "KeptCount", "TargetCount", "LossMean", "TemperedKlRows", "LinearCeKlRows", "RelationRows", "RelationGrad", "CalibrationChecks", "AwqRowStats", "AwqGridError", "GptqRows", "GptqScales",
            // the GPUs' group-per-row forms of the row kernels
            "ReduceRowsGrouped", "ArgRowsGrouped", "SoftmaxRowsGrouped", "LogSumExpRowsGrouped", "RmsNormRowsGrouped", "RmsNormBackwardRowsGrouped",
            "CrossEntropyBackwardElements", "KeptCountGrouped", "TargetCountGrouped", "LossMeanGrouped", "TemperedKlRowsGrouped", "LinearCeKlRowsGrouped", "RelationRowsGrouped", "GptqRowsGrouped" })
            Assert.Contains(kernels, k => k.Name == name);
        using var context = Context.Create(b => b.EnableAlgorithms());
        var arch = CudaArchitecture.SM_70;
        using var ptx = new PTXBackend(context, new CudaCapabilityContext(arch), arch, CudaInstructionSet.ISA_70, null!);
        var failed = new List<string>();
        foreach (var k in kernels)
        {
            // kernels whose first parameter is an index are launched auto-grouped; the others (SGEMM) explicitly grouped
            bool implicitGroups = k.GetParameters()[0].ParameterType == typeof(Index1D);
            var entry = implicitGroups ? EntryPointDescription.FromImplicitlyGroupedKernel(k) : EntryPointDescription.FromExplicitlyGroupedKernel(k);
            try
            {
                var compiled = (PTXCompiledKernel)ptx.Compile(entry, default);
                Assert.Contains(".entry", compiled.PTXAssembly);
                if (!implicitGroups) Assert.Contains(".shared", compiled.PTXAssembly);
            }
            catch (Exception e) when (e is not Xunit.Sdk.XunitException) { failed.Add($"{k.Name}: {e.Message}"); }
        }
        Assert.True(failed.Count == 0, "kernels that do not compile to PTX:\n" + string.Join("\n", failed));
    }
}
