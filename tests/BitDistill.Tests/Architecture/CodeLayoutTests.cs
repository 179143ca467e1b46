using System.Reflection;
using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace BitDistill.Tests.Architecture;

/// <summary>Habits a newcomer relies on, checked: every source file holds one top-level type named like the file (partial
/// parts as Type.Part.cs), and every public type has a one-line XML summary.</summary>
public partial class CodeLayoutTests
{
    private static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "BitDistill.sln"))) return d.FullName;
        throw new DirectoryNotFoundException("BitDistill.sln not found above the test binaries");
    }

    // a declaration at column 0 (nested types are indented and belong to their outer type's file)
    [GeneratedRegex(@"^(?:(?:public|internal|file)\s+)?(?:(?:static|sealed|abstract|unsafe|readonly|partial|ref)\s+)*(?:record\s+struct|record\s+class|class|struct|interface|enum|record|delegate\s+\S+)\s+([A-Za-z_][A-Za-z0-9_]*)", RegexOptions.Multiline)]
    private static partial Regex TopLevelType();

    [Fact]
    public void EveryFileHoldsOneTopLevelTypeNamedLikeIt()
    {
        var root = RepoRoot();
        var bad = new List<string>();
        foreach (var dir in new[] { "src", "tests", "bench" })
            foreach (var file in Directory.EnumerateFiles(Path.Combine(root, dir), "*.cs", SearchOption.AllDirectories))
            {
                if (file.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") || file.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}")) continue;
                var types = TopLevelType().Matches(File.ReadAllText(file)).Select(m => m.Groups[1].Value).Distinct().ToArray();
                var name = Path.GetFileNameWithoutExtension(file).Split('.')[0];
                if (types.Length == 0) continue; // top-level statements (bench Program.cs)
                if (types.Length > 1 || types[0] != name) bad.Add($"{Path.GetRelativePath(root, file)}: {string.Join(", ", types)}");
            }
        Assert.True(bad.Count == 0, "files whose types do not match their name:\n" + string.Join("\n", bad));
    }

    public static IEnumerable<object[]> Assemblies() =>
        new[] { "BitDistill.Kernels", "BitDistill.Tensors", "BitDistill.Autograd", "BitDistill.Models", "BitDistill.Distill", "BitDistill.Runtime", "BitDistill.Parallel", "BitDistill.Backends.Ilgpu", "bitdistill" }
            .Select(n => new object[] { n });

    [Theory, MemberData(nameof(Assemblies))]
    public void EveryPublicTypeHasASummary(string assembly)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, assembly + ".dll");
        var xml = Path.ChangeExtension(dll, ".xml");
        Assert.True(File.Exists(xml), $"{xml} is missing: GenerateDocumentationFile must stay on");
        var documented = XDocument.Load(xml).Descendants("member")
            .Where(m => !string.IsNullOrWhiteSpace((string?)m.Element("summary")) || m.Element("inheritdoc") is not null)
            .Select(m => (string)m.Attribute("name")!).ToHashSet(StringComparer.Ordinal);
        var exported = Assembly.LoadFrom(dll).GetExportedTypes();
        Assert.NotEmpty(exported);
        var missing = exported
            .Where(t => !t.IsDefined(typeof(System.Runtime.CompilerServices.CompilerGeneratedAttribute)))
            .Select(t => "T:" + t.FullName!.Replace('+', '.'))
            .Where(id => !documented.Contains(Regex.Replace(id, "`\\d+", m => m.Value)))
            .Order(StringComparer.Ordinal).ToArray();
        Assert.True(missing.Length == 0, $"public types without a /// <summary> in {assembly}:\n" + string.Join("\n", missing));
    }
}
