using System.Reflection;

namespace BitDistill.Tests.Architecture;

/// <summary>The dependency direction of DESIGN.md, checked on the built assemblies: Kernels ← Tensors ← Autograd ← Models ←
/// Distill ← Cli, Runtime and the device backend (Backends.Ilgpu) on Kernels and Tensors only, and Parallel (MPI) on Autograd, used by Cli alone. (That only Kernels and Tensors touch raw storage is checked at
/// build time by the banned-API analyzer, BannedSymbols.txt.)</summary>
public class LayeringTests
{
    private static readonly Dictionary<string, string[]> Allowed = new()
    {
        ["BitDistill.Kernels"] = [],
        ["BitDistill.Tensors"] = ["BitDistill.Kernels"],
        ["BitDistill.Autograd"] = ["BitDistill.Kernels", "BitDistill.Tensors"],
        ["BitDistill.Models"] = ["BitDistill.Kernels", "BitDistill.Tensors", "BitDistill.Autograd"],
        ["BitDistill.Distill"] = ["BitDistill.Kernels", "BitDistill.Tensors", "BitDistill.Autograd", "BitDistill.Models"],
        ["BitDistill.Runtime"] = ["BitDistill.Kernels", "BitDistill.Tensors"],
        // the MPI binding implements Autograd's collective interface; only the command line references it
        ["BitDistill.Parallel"] = ["BitDistill.Kernels", "BitDistill.Tensors", "BitDistill.Autograd"],
        ["BitDistill.Backends.Ilgpu"] = ["BitDistill.Kernels", "BitDistill.Tensors"],
    };

    public static IEnumerable<object[]> Assemblies() => Allowed.Keys
        .Where(n => File.Exists(Path.Combine(AppContext.BaseDirectory, n + ".dll")))
        .Select(n => new object[] { n });

    [Theory, MemberData(nameof(Assemblies))]
    public void ReferencesOnlyLowerLayers(string name)
    {
        var asm = Assembly.LoadFrom(Path.Combine(AppContext.BaseDirectory, name + ".dll"));
        var ours = asm.GetReferencedAssemblies().Select(a => a.Name!).Where(n => n.StartsWith("BitDistill.", StringComparison.Ordinal)).ToArray();
        var wrong = ours.Except(Allowed[name]).ToArray();
        Assert.True(wrong.Length == 0, $"{name} references {string.Join(", ", wrong)}, which is not below it in DESIGN.md's layers");
    }

    [Fact]
    public void EveryLayerIsChecked()
    {
        var built = Directory.GetFiles(AppContext.BaseDirectory, "BitDistill.*.dll").Select(Path.GetFileNameWithoutExtension)
            .Where(n => n is not "BitDistill.Tests" && !n!.StartsWith("BitDistill.Tests", StringComparison.Ordinal)).ToArray();
        var unknown = built.Where(n => !Allowed.ContainsKey(n!)).ToArray();
        Assert.True(unknown.Length == 0, $"assemblies without a place in the layering table: {string.Join(", ", unknown)}");
    }
}
