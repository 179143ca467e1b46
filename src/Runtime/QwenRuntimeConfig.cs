using System.Globalization;
using System.Text.Json;

namespace BitDistill.Runtime;

/// <summary>The fields of a Hugging Face Qwen2/Qwen2.5/Qwen3 config.json that the runtime's forward uses, read and validated with
/// the defaults of transformers' Qwen3Config/Qwen2Config (the same rules as Models' QwenConfig, which the runtime cannot reference).
/// Settings that would change the computation and are not implemented are refused, and so is a ternary training checkpoint (a
/// "bitnet" field); an exported ternary model carries a <see cref="PackedExportInfo"/> object instead.</summary>
public sealed class QwenRuntimeConfig
{
    private readonly JsonElement _root;

    private QwenRuntimeConfig(JsonElement root, string source)
    {
        _root = root;
        Source = source;
        ModelType = String("model_type") ?? throw Error("model_type", "is required (expected \"qwen3\" or \"qwen2\")");
        if (ModelType is not ("qwen3" or "qwen2")) throw Error("model_type", $"unknown model type \"{ModelType}\"; the runtime runs \"qwen3\" and \"qwen2\"");
        if (Field(PackedExportInfo.Field) is { } export) Export = PackedExportInfo.Parse(export, source);
        else if (Has("bitnet"))
            throw Error("bitnet", "a ternary (BitNet / quantisation-aware) training checkpoint: the inference runtime runs full-precision checkpoints "
                + "and exported ternary models; pack it first with `bitdistill export` (bitdistill generate runs such a checkpoint on the training library's model)");
        bool qwen3 = ModelType == "qwen3";
        VocabSize = PositiveInt("vocab_size");
        HiddenSize = PositiveInt("hidden_size");
        IntermediateSize = PositiveInt("intermediate_size");
        NumHiddenLayers = PositiveInt("num_hidden_layers");
        NumAttentionHeads = PositiveInt("num_attention_heads");
        NumKeyValueHeads = Has("num_key_value_heads") ? PositiveInt("num_key_value_heads") : NumAttentionHeads;
        if (NumAttentionHeads % NumKeyValueHeads != 0)
            throw Error("num_key_value_heads", $"{NumKeyValueHeads} does not divide num_attention_heads {NumAttentionHeads}");
        if (Has("head_dim")) HeadDim = PositiveInt("head_dim");
        else if (qwen3 && !_root.TryGetProperty("head_dim", out _)) HeadDim = 128; // Qwen3Config's default
        else
        {
            if (HiddenSize % NumAttentionHeads != 0)
                throw Error("head_dim", $"is absent and hidden_size {HiddenSize} is not a multiple of num_attention_heads {NumAttentionHeads}");
            HeadDim = HiddenSize / NumAttentionHeads;
        }
        if (HeadDim % 2 != 0) throw Error("head_dim", $"must be even for rotary embeddings, got {HeadDim}");
        RmsNormEps = Number("rms_norm_eps", 1e-6);
        if (!(RmsNormEps > 0)) throw Error("rms_norm_eps", $"must be positive, got {RmsNormEps}");
        RopeTheta = Number("rope_theta", 10000.0);
        if (!(RopeTheta > 0)) throw Error("rope_theta", $"must be positive, got {RopeTheta}");
        TieWordEmbeddings = Bool("tie_word_embeddings", false);
        MaxPositionEmbeddings = Int("max_position_embeddings") ?? 32768;
        bool attentionBias = qwen3 && Bool("attention_bias", false);
        QkvBias = !qwen3 || attentionBias;
        OutputProjectionBias = attentionBias;
        QkNorm = qwen3;
        EosTokenIds = IntList("eos_token_id");

        var act = String("hidden_act") ?? "silu";
        if (act != "silu") throw Error("hidden_act", $"\"{act}\" is not supported; expected \"silu\"");
        double dropout = Number("attention_dropout", 0);
        if (dropout != 0) throw Error("attention_dropout", $"{dropout.ToString(CultureInfo.InvariantCulture)} is not supported; expected 0.0");
        if (Bool("use_sliding_window", false)) throw Error("use_sliding_window", "true is not supported (sliding-window attention is not implemented); expected false");
        if (Bool("use_mrope", false)) throw Error("use_mrope", "true is not supported (multimodal RoPE is not implemented); expected false");
        if (Field("rope_scaling") is { } scaling)
        {
            string? kind = null;
            if (scaling.ValueKind == JsonValueKind.Object)
                foreach (var key in (ReadOnlySpan<string>)["rope_type", "type"])
                    if (scaling.TryGetProperty(key, out var k) && k.ValueKind == JsonValueKind.String) { kind = k.GetString(); break; }
            if (kind != "default") throw Error("rope_scaling", $"{scaling.GetRawText()} is not supported (only plain RoPE is implemented); expected null");
        }
        if (Field("layer_types") is { ValueKind: JsonValueKind.Array } layers)
            foreach (var l in layers.EnumerateArray())
                if (l.ValueKind != JsonValueKind.String || l.GetString() != "full_attention")
                    throw Error("layer_types", $"{l.GetRawText()} is not supported; expected \"full_attention\" for every layer");
    }

    /// <summary>Where the config came from (a path), named in errors.</summary>
    public string Source { get; }
    /// <summary>"qwen3" or "qwen2".</summary>
    public string ModelType { get; }
    /// <summary>Rows of the embedding table and of lm_head.</summary>
    public int VocabSize { get; }
    /// <summary>Width of the residual stream.</summary>
    public int HiddenSize { get; }
    /// <summary>Width of the SwiGLU MLP.</summary>
    public int IntermediateSize { get; }
    /// <summary>Number of decoder layers.</summary>
    public int NumHiddenLayers { get; }
    /// <summary>Query heads.</summary>
    public int NumAttentionHeads { get; }
    /// <summary>Key/value heads (grouped-query attention).</summary>
    public int NumKeyValueHeads { get; }
    /// <summary>Width of one head.</summary>
    public int HeadDim { get; }
    /// <summary>ε of every RMSNorm.</summary>
    public double RmsNormEps { get; }
    /// <summary>RoPE base θ.</summary>
    public double RopeTheta { get; }
    /// <summary>lm_head shares embed_tokens' weight.</summary>
    public bool TieWordEmbeddings { get; }
    /// <summary>Longest sequence the model was trained for (the default bound of a session's length, capped).</summary>
    public int MaxPositionEmbeddings { get; }
    /// <summary>q/k/v projections carry a bias (always for Qwen2; attention_bias for Qwen3).</summary>
    public bool QkvBias { get; }
    /// <summary>o_proj carries a bias (Qwen3 with attention_bias only).</summary>
    public bool OutputProjectionBias { get; }
    /// <summary>Per-head RMSNorm of queries and keys before RoPE (Qwen3).</summary>
    public bool QkNorm { get; }
    /// <summary>eos_token_id (one id or a list; empty if unset).</summary>
    public IReadOnlyList<int> EosTokenIds { get; }
    /// <summary>The export object of a packed ternary model (null for a full-precision checkpoint).</summary>
    public PackedExportInfo? Export { get; }

    /// <summary>Reads and validates a config.json; errors name the file and the field.</summary>
    public static QwenRuntimeConfig Load(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { throw new RuntimeModelException(path, null, null, "file not found", e); }
        return Parse(text, path);
    }

    /// <summary>Parses and validates config.json text; <paramref name="source"/> names it in errors.</summary>
    public static QwenRuntimeConfig Parse(string json, string source = "config.json")
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json); }
        catch (JsonException e) { throw new RuntimeModelException(source, null, null, $"not valid JSON: {e.Message}", e); }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new RuntimeModelException(source, null, null, "expected a JSON object at the top level");
            return new QwenRuntimeConfig(doc.RootElement.Clone(), source);
        }
    }

    // ---- typed fields; a present field of the wrong type is an error naming it (null counts as absent, as in Models)

    private JsonElement? Field(string name) =>
        _root.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    private bool Has(string name) => Field(name) is not null;

    private int? Int(string name) => Field(name) is not { } v ? null
        : v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int i) ? i : throw Error(name, $"expected an integer, got {v.GetRawText()}");

    private int PositiveInt(string name)
    {
        int v = Int(name) ?? throw Error(name, "is required (expected a positive integer)");
        return v > 0 ? v : throw Error(name, $"expected a positive integer, got {v}");
    }

    private double Number(string name, double fallback) => Field(name) is not { } v ? fallback
        : v.ValueKind == JsonValueKind.Number ? v.GetDouble() : throw Error(name, $"expected a number, got {v.GetRawText()}");

    private bool Bool(string name, bool fallback) => Field(name) is not { } v ? fallback
        : v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : throw Error(name, $"expected true or false, got {v.GetRawText()}");

    private string? String(string name) => Field(name) is not { } v ? null
        : v.ValueKind == JsonValueKind.String ? v.GetString() : throw Error(name, $"expected a string, got {v.GetRawText()}");

    private int[] IntList(string name)
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

    private RuntimeModelException Error(string field, string problem) => new(Source, "field", field, problem);
}
