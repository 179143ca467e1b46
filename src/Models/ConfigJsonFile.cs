using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using BitDistill.Tensors;

namespace BitDistill.Models;

/// <summary>How every architecture's config.json is written: indented, fields in their original order, non-ASCII kept as
/// is, and atomically (a temporary file in the same folder, then a rename).</summary>
public static class ConfigJsonFile
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The config as indented JSON with a final newline.</summary>
    public static string ToJsonString(JsonObject config) => config.ToJsonString(Indented) + "\n";

    /// <summary>Writes <paramref name="config"/> to <paramref name="path"/> atomically.</summary>
    public static void Save(JsonObject config, string path)
    {
        AtomicFile.WriteAllText(path, ToJsonString(config));
    }
}
