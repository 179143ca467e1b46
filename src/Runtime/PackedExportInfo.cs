using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace BitDistill.Runtime;

/// <summary>The "bitdistill_export" object of an exported model's config.json: format version, ternary packing, block size,
/// weight-scale granularity, SubLN placement, and the storage of embeddings and lm_head. The same facts are repeated in the
/// safetensors metadata, and the loader refuses a file whose metadata disagrees.</summary>
public sealed record PackedExportInfo
{
    /// <summary>The config.json field that holds this object.</summary>
    public const string Field = "bitdistill_export";
    /// <summary>The format version this code writes and reads.</summary>
    public const int CurrentVersion = 1;
    /// <summary>The safetensors metadata value of "format".</summary>
    public const string FormatName = "bitdistill-packed-ternary";
    /// <summary>The container's file name in the model folder.</summary>
    public const string FileName = "model.safetensors";

    /// <summary>Format version (see <see cref="CurrentVersion"/>).</summary>
    public int FormatVersion { get; init; } = CurrentVersion;
    /// <summary>Packing of the ternary projections.</summary>
    public TernaryPacking Packing { get; init; }
    /// <summary>Weights per packed block of the 2-bit layout (128).</summary>
    public int BlockSize { get; init; } = Kernels.PackedTernaryMatrix.BlockSize;
    /// <summary>True: one scale per output row ([N] weight_scale); false: one per matrix ([1]).</summary>
    public bool PerRowScales { get; init; }
    /// <summary>SubLN placement: "none", "paper" (attn_sub_norm before o_proj, ffn_sub_norm before down_proj) or "all" (a sub_norm per projection).</summary>
    public string SubLn { get; init; } = "none";
    /// <summary>ε of the SubLN norms.</summary>
    public double SubLnEps { get; init; } = 1e-8;
    /// <summary>Storage of model.embed_tokens.weight.</summary>
    public TableStorage Embeddings { get; init; } = TableStorage.Float16;
    /// <summary>Storage of lm_head.weight.</summary>
    public TableStorage LmHead { get; init; } = TableStorage.Float16;

    /// <summary>"i2" or "t1.6".</summary>
    public static string Name(TernaryPacking p) => p == TernaryPacking.I2 ? "i2" : "t1.6";
    /// <summary>"fp16", "int8" or "fp32".</summary>
    public static string Name(TableStorage s) => s switch { TableStorage.Int8 => "int8", TableStorage.Float32 => "fp32", _ => "fp16" };

    /// <summary>Parses "i2" / "t1.6" (null if neither).</summary>
    public static TernaryPacking? ParsePacking(string? s) => s switch { "i2" => TernaryPacking.I2, "t1.6" => TernaryPacking.T16, _ => null };
    /// <summary>Parses "fp16" / "int8" / "fp32" (null if none).</summary>
    public static TableStorage? ParseStorage(string? s) => s switch { "fp16" => TableStorage.Float16, "int8" => TableStorage.Int8, "fp32" => TableStorage.Float32, _ => null };

    /// <summary>True when lm_head is the embedding table (tied weights stored once in the same form).</summary>
    public bool SharesTable(bool tieWordEmbeddings) => tieWordEmbeddings && LmHead == Embeddings;

    /// <summary>The safetensors metadata written with (and required of) the container.</summary>
    public Dictionary<string, string> Metadata() => new(StringComparer.Ordinal)
    {
        ["format"] = FormatName,
        ["format_version"] = FormatVersion.ToString(CultureInfo.InvariantCulture),
        ["packing"] = Name(Packing),
        ["block_size"] = BlockSize.ToString(CultureInfo.InvariantCulture),
        ["weight_scale"] = PerRowScales ? "per_row" : "per_tensor",
        ["embeddings"] = Name(Embeddings),
        ["lm_head"] = Name(LmHead),
    };

    /// <summary>This object as the JSON stored in config.json.</summary>
    public JsonObject ToJson() => new()
    {
        ["format_version"] = FormatVersion,
        ["packing"] = Name(Packing),
        ["block_size"] = BlockSize,
        ["weight_scale"] = PerRowScales ? "per_row" : "per_tensor",
        ["subln"] = SubLn,
        ["subln_eps"] = SubLnEps,
        ["embeddings"] = Name(Embeddings),
        ["lm_head"] = Name(LmHead),
    };

    /// <summary>Parses and validates the object; errors are <see cref="RuntimeModelException"/>s naming <paramref name="source"/> and the field.</summary>
    public static PackedExportInfo Parse(JsonElement o, string source)
    {
        RuntimeModelException Bad(string key, string problem) => new(source, "field", $"{Field}.{key}", problem);
        if (o.ValueKind != JsonValueKind.Object) throw new RuntimeModelException(source, "field", Field, $"expected an object, got {o.GetRawText()}");
        JsonElement? Get(string key) => o.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;
        string Str(string key) => Get(key) is { ValueKind: JsonValueKind.String } v ? v.GetString()! : throw Bad(key, $"is required (a string), got {Get(key)?.GetRawText() ?? "nothing"}");
        int IntOf(string key) => Get(key) is { ValueKind: JsonValueKind.Number } v && v.TryGetInt32(out int i) ? i : throw Bad(key, $"is required (an integer), got {Get(key)?.GetRawText() ?? "nothing"}");
        int version = IntOf("format_version");
        if (version != CurrentVersion) throw Bad("format_version", $"is {version}; this build reads version {CurrentVersion} (re-export the model with this build)");
        var packing = ParsePacking(Str("packing")) ?? throw Bad("packing", $"'{Str("packing")}' is not i2 or t1.6");
        int block = IntOf("block_size");
        if (block != Kernels.PackedTernaryMatrix.BlockSize) throw Bad("block_size", $"is {block}; expected {Kernels.PackedTernaryMatrix.BlockSize}");
        var scale = Str("weight_scale");
        if (scale is not ("per_tensor" or "per_row")) throw Bad("weight_scale", $"'{scale}' is not per_tensor or per_row");
        var subln = Str("subln");
        if (subln is not ("none" or "paper" or "all")) throw Bad("subln", $"'{subln}' is not none, paper or all");
        double eps = Get("subln_eps") is { ValueKind: JsonValueKind.Number } e ? e.GetDouble() : throw Bad("subln_eps", "is required (a positive number)");
        if (!(eps > 0) || !double.IsFinite(eps)) throw Bad("subln_eps", $"must be a positive number, got {eps}");
        var emb = ParseStorage(Str("embeddings")) ?? throw Bad("embeddings", $"'{Str("embeddings")}' is not fp16, int8 or fp32");
        var head = ParseStorage(Str("lm_head")) ?? throw Bad("lm_head", $"'{Str("lm_head")}' is not fp16, int8 or fp32");
        return new PackedExportInfo
        {
            FormatVersion = version, Packing = packing, BlockSize = block, PerRowScales = scale == "per_row",
            SubLn = subln, SubLnEps = eps, Embeddings = emb, LmHead = head,
        };
    }
}
