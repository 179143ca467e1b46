using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace BitDistill.Distill.Reports;

/// <summary>The rules every JSON result the project writes follows (results, report.json, metrics JSONL, evaluation
/// reports, generate --json): snake_case names, a number that is not finite written as null (JSON has no NaN, and the
/// string "NaN" breaks readers), and the code version recorded beside the seed, the steps and the settings.</summary>
public static class JsonReports
{
    /// <summary>The version of the code that wrote a result: the assembly's informational version (with the commit when
    /// the build knew it).</summary>
    public static string CodeVersion { get; } =
        typeof(JsonReports).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? typeof(JsonReports).Assembly.GetName().Version?.ToString() ?? "unknown";

    /// <summary>A JSON number, or null when <paramref name="x"/> is NaN or infinite.</summary>
    public static JsonNode? Number(double x) => double.IsFinite(x) ? JsonValue.Create(x) : null;

    /// <summary>The tree with every non-finite number replaced by null, in place; returns <paramref name="node"/>.</summary>
    public static JsonNode? Finite(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var key in o.Select(p => p.Key).ToArray())
                    if (IsNonFinite(o[key])) o[key] = null; else Finite(o[key]);
                break;
            case JsonArray a:
                for (int i = 0; i < a.Count; i++)
                    if (IsNonFinite(a[i])) a[i] = null; else Finite(a[i]);
                break;
        }
        return node;
    }

    private static bool IsNonFinite(JsonNode? n) => n is JsonValue v
        && (v.TryGetValue<double>(out double d) && !double.IsFinite(d) || v.TryGetValue<float>(out float f) && !float.IsFinite(f));

    /// <summary>Indented JSON text of <paramref name="node"/> with non-finite numbers as null, and a final newline.</summary>
    public static string ToText(JsonNode node) => Finite(node)!.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";

    /// <summary>A learning rate (or any small positive number) as people read it: "0", "3e-4", "1.5e-3", never "0.00E+000".</summary>
    public static string Readable(double x) =>
        x == 0 ? "0" : !double.IsFinite(x) ? x.ToString(CultureInfo.InvariantCulture)
        : Math.Abs(x) >= 1e-2 && Math.Abs(x) < 1e4 ? x.ToString("0.####", CultureInfo.InvariantCulture)
        : x.ToString("0.##e+0", CultureInfo.InvariantCulture).Replace("e+", "e", StringComparison.Ordinal);
}
