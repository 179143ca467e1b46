using System.Globalization;
using System.Text.Json;

namespace BitDistill.Runtime;

/// <summary>The fields of a Hugging Face config.json that the runtime's forward uses, for every architecture it runs (Qwen3 /
/// Qwen2 through <see cref="QwenRuntimeConfig"/>, Gemma 3 through <see cref="Gemma3RuntimeConfig"/>): sizes, norms, attention
/// and MLP options, and the export object of a packed ternary model. <see cref="Load"/> picks the architecture by model_type.</summary>
public abstract class RuntimeModelConfig
{
    private readonly JsonElement _root;

    /// <summary>Reads the fields every architecture shares; the derived class validates its own.</summary>
    private protected RuntimeModelConfig(JsonElement root, string source, string modelType)
    {
        _root = root;
        Source = source;
        ModelType = modelType;
        if (Field(PackedExportInfo.Field) is { } export) Export = PackedExportInfo.Parse(export, source);
        else if (Has("bitnet"))
            throw Error("bitnet", "a ternary (BitNet / quantisation-aware) training checkpoint: the inference runtime runs full-precision checkpoints "
                + "and exported ternary models; pack it first with `bitdistill export` (bitdistill generate runs such a checkpoint on the training library's model)");
    }

    /// <summary>Where the config came from (a path), named in errors.</summary>
    public string Source { get; }
    /// <summary>model_type: "qwen3", "qwen2" or "gemma3_text".</summary>
    public string ModelType { get; }
    /// <summary>Rows of the embedding table and of lm_head.</summary>
    public int VocabSize { get; private protected init; }
    /// <summary>Width of the residual stream.</summary>
    public int HiddenSize { get; private protected init; }
    /// <summary>Width of the gated MLP.</summary>
    public int IntermediateSize { get; private protected init; }
    /// <summary>Number of decoder layers.</summary>
    public int NumHiddenLayers { get; private protected init; }
    /// <summary>Query heads.</summary>
    public int NumAttentionHeads { get; private protected init; }
    /// <summary>Key/value heads (grouped-query attention).</summary>
    public int NumKeyValueHeads { get; private protected init; }
    /// <summary>Width of one head.</summary>
    public int HeadDim { get; private protected init; }
    /// <summary>ε of every RMSNorm.</summary>
    public double RmsNormEps { get; private protected init; }
    /// <summary>RoPE base θ (of the global layers, where an architecture has local ones).</summary>
    public double RopeTheta { get; private protected init; }
    /// <summary>Linear RoPE scaling of the global layers (rope_scaling "linear": every frequency divided by it); 1 when none.</summary>
    public double RopeScalingFactor { get; private protected init; } = 1;
    /// <summary>RoPE base θ of the sliding-window layers.</summary>
    public double LocalRopeTheta { get; private protected init; }
    /// <summary>lm_head shares embed_tokens' weight.</summary>
    public bool TieWordEmbeddings { get; private protected init; }
    /// <summary>Longest sequence the model was trained for (the default bound of a session's length, capped).</summary>
    public int MaxPositionEmbeddings { get; private protected init; }
    /// <summary>q/k/v projections carry a bias.</summary>
    public bool QkvBias { get; private protected init; }
    /// <summary>o_proj carries a bias.</summary>
    public bool OutputProjectionBias { get; private protected init; }
    /// <summary>Per-head RMSNorm of queries and keys before RoPE.</summary>
    public bool QkNorm { get; private protected init; }
    /// <summary>Gemma's RMSNorm: every norm of the architecture (not SubLN) scales by 1 + weight.</summary>
    public bool NormWeightOffset { get; private protected init; }
    /// <summary>Gemma's sandwich norms: the attention and MLP outputs are normed before the residual add (post_attention_layernorm,
    /// post_feedforward_layernorm) and the MLP input by pre_feedforward_layernorm; otherwise post_attention_layernorm is the MLP's
    /// input norm (Qwen).</summary>
    public bool SandwichNorms { get; private protected init; }
    /// <summary>The gated MLP's activation.</summary>
    public RuntimeActivation Activation { get; private protected init; }
    /// <summary>The factor on the embedding rows (Gemma's √hidden_size rounded to the checkpoint dtype; 1 for Qwen).</summary>
    public float EmbedScale { get; private protected init; } = 1f;
    /// <summary>The factor on attention scores (head_dim^-0.5, or Gemma's query_pre_attn_scalar^-0.5).</summary>
    public float AttentionScale { get; private protected init; }
    /// <summary>cap·tanh(score/cap) on attention scores; 0 when none.</summary>
    public float AttentionSoftcap { get; private protected init; }
    /// <summary>cap·tanh(logit/cap) on the LM head's output; 0 when none.</summary>
    public float FinalLogitSoftcap { get; private protected init; }
    /// <summary>Keys a sliding-window layer sees: those less than this many positions back (its own included); 0 when no layer slides.</summary>
    public int SlidingWindow { get; private protected init; }
    /// <summary>Per layer: true for a sliding-window (local) layer.</summary>
    public IReadOnlyList<bool> SlidingLayers { get; private protected init; } = [];
    /// <summary>eos_token_id (one id or a list; empty if unset).</summary>
    public IReadOnlyList<int> EosTokenIds { get; private protected init; } = [];
    /// <summary>The export object of a packed ternary model (null for a full-precision checkpoint).</summary>
    public PackedExportInfo? Export { get; }

    /// <summary>Reads and validates a config.json of any architecture the runtime runs; errors name the file and the field.</summary>
    public static RuntimeModelConfig Load(string path) => Parse(ReadText(path), path);

    /// <summary>Parses and validates config.json text by its model_type; <paramref name="source"/> names it in errors.</summary>
    public static RuntimeModelConfig Parse(string json, string source = "config.json")
    {
        var root = ParseRoot(json, source);
        string? type = root.TryGetProperty("model_type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        return type is "gemma3_text" or "gemma3" ? new Gemma3RuntimeConfig(root, source) : new QwenRuntimeConfig(root, source);
    }

    private protected static string ReadText(string path)
    {
        try { return File.ReadAllText(path); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { throw new RuntimeModelException(path, null, null, "file not found", e); }
    }

    private protected static JsonElement ParseRoot(string json, string source)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json); }
        catch (JsonException e) { throw new RuntimeModelException(source, null, null, $"not valid JSON: {e.Message}", e); }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new RuntimeModelException(source, null, null, "expected a JSON object at the top level");
            return doc.RootElement.Clone();
        }
    }

    // ---- typed fields; a present field of the wrong type is an error naming it (null counts as absent, as in Models)

    private protected JsonElement? Field(string name) =>
        _root.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    private protected bool Has(string name) => Field(name) is not null;

    private protected bool Present(string name) => _root.TryGetProperty(name, out _);

    private protected int? Int(string name) => Field(name) is not { } v ? null
        : v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int i) ? i : throw Error(name, $"expected an integer, got {v.GetRawText()}");

    private protected int PositiveInt(string name)
    {
        int v = Int(name) ?? throw Error(name, "is required (expected a positive integer)");
        return v > 0 ? v : throw Error(name, $"expected a positive integer, got {v}");
    }

    private protected int PositiveInt(string name, int fallback)
    {
        int v = Int(name) ?? fallback;
        return v > 0 ? v : throw Error(name, $"expected a positive integer, got {v}");
    }

    private protected double Number(string name, double fallback) => Field(name) is not { } v ? fallback
        : v.ValueKind == JsonValueKind.Number ? v.GetDouble() : throw Error(name, $"expected a number, got {v.GetRawText()}");

    private protected double PositiveNumber(string name, double fallback)
    {
        double v = Number(name, fallback);
        return v > 0 && double.IsFinite(v) ? v : throw Error(name, $"must be positive, got {v.ToString(CultureInfo.InvariantCulture)}");
    }

    private protected bool Bool(string name, bool fallback) => Field(name) is not { } v ? fallback
        : v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : throw Error(name, $"expected true or false, got {v.GetRawText()}");

    private protected string? String(string name) => Field(name) is not { } v ? null
        : v.ValueKind == JsonValueKind.String ? v.GetString() : throw Error(name, $"expected a string, got {v.GetRawText()}");

    private protected int[] IntList(string name)
    {
        if (Field(name) is not { } v) return [];
        if (v.ValueKind != JsonValueKind.Array) return [Int(name)!.Value];
        var r = new int[v.GetArrayLength()];
        int i = 0;
        foreach (var e in v.EnumerateArray())
        {
            if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt32(out r[i])) throw Error(name, $"expected integers, element {i} is {e.GetRawText()}");
            i++;
        }
        return r;
    }

    private protected RuntimeModelException Error(string field, string problem) => new(Source, "field", field, problem);
}
