using System.Text.Json;
using System.Text.Json.Serialization;

namespace BitDistill.Distill.Data;

/// <summary>Source-generated JSON metadata for streaming JSON arrays (no reflection, so it works trimmed and AOT).</summary>
[JsonSerializable(typeof(JsonElement))]
internal sealed partial class TaskJsonContext : JsonSerializerContext;
