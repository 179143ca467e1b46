using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace BitDistill.Models.Qwen;

/// <summary>A Hugging Face config.json of a Qwen2/Qwen2.5/Qwen3 causal LM. Every field of the file is kept (in order) and written back
/// by <see cref="Save"/>; the fields that shape the computation are validated and exposed as typed properties, and anything else
/// (extensions such as quantisation settings) is read through <see cref="GetInt(string, int)"/>, <see cref="GetString"/>, … and
/// changed with <see cref="With"/>. Defaults follow transformers' Qwen3Config / Qwen2Config.</summary>
public sealed class QwenConfig : IModelConfig
{
    private readonly JsonObject _raw;

    private QwenConfig(JsonObject raw, string source)
    {
        _raw = raw;
        Source = source;
        var type = GetString("model_type") ?? throw Error("model_type", "is required (expected \"qwen3\" or \"qwen2\")");
        Architecture = type switch
        {
            "qwen3" => QwenArchitecture.Qwen3,
            "qwen2" => QwenArchitecture.Qwen2,
            _ => throw Error("model_type", $"unknown model type \"{type}\"; expected \"qwen3\" or \"qwen2\""),
        };
        VocabSize = RequiredPositiveInt("vocab_size");
        HiddenSize = RequiredPositiveInt("hidden_size");
        IntermediateSize = RequiredPositiveInt("intermediate_size");
        NumHiddenLayers = RequiredPositiveInt("num_hidden_layers");
        NumAttentionHeads = RequiredPositiveInt("num_attention_heads");
        NumKeyValueHeads = Has("num_key_value_heads") ? RequiredPositiveInt("num_key_value_heads") : NumAttentionHeads;
        if (NumAttentionHeads % NumKeyValueHeads != 0)
            throw Error("num_key_value_heads", $"{NumKeyValueHeads} does not divide num_attention_heads {NumAttentionHeads}");
        if (Has("head_dim")) HeadDim = RequiredPositiveInt("head_dim");
        else if (Architecture == QwenArchitecture.Qwen3 && !_raw.ContainsKey("head_dim")) HeadDim = 128; // Qwen3Config's default
        else
        {
            if (HiddenSize % NumAttentionHeads != 0)
                throw Error("head_dim", $"is absent and hidden_size {HiddenSize} is not a multiple of num_attention_heads {NumAttentionHeads}");
            HeadDim = HiddenSize / NumAttentionHeads;
        }
        if (HeadDim % 2 != 0) throw Error("head_dim", $"must be even for rotary embeddings, got {HeadDim}");
        RmsNormEps = GetDouble("rms_norm_eps", 1e-6);
        if (!(RmsNormEps > 0)) throw Error("rms_norm_eps", $"must be positive, got {RmsNormEps}");
        RopeTheta = GetDouble("rope_theta", 10000.0);
        if (!(RopeTheta > 0)) throw Error("rope_theta", $"must be positive, got {RopeTheta}");
        TieWordEmbeddings = GetBool("tie_word_embeddings", false);
        MaxPositionEmbeddings = GetInt("max_position_embeddings", 32768);
        if (MaxPositionEmbeddings <= 0) throw Error("max_position_embeddings", $"expected a positive integer, got {MaxPositionEmbeddings}");
        InitializerRange = GetDouble("initializer_range", 0.02);
        AttentionBias = Architecture == QwenArchitecture.Qwen3 && GetBool("attention_bias", false);
        BosTokenId = GetOptionalInt("bos_token_id");
        EosTokenIds = GetIntList("eos_token_id");
        PadTokenId = GetOptionalInt("pad_token_id");
        // a negative special-token id is a damaged file (Hugging Face writes null for "none"); ids past the vocabulary are
        // allowed, as some published configs have them, and simply never occur
        foreach (var (field, id) in EosTokenIds.Select(i => ("eos_token_id", (int?)i)).Append(("bos_token_id", BosTokenId)).Append(("pad_token_id", PadTokenId)))
            if (id < 0) throw Error(field, $"expected a token id (0 or more) or null, got {id}");
        TorchDType = GetString("torch_dtype") ?? GetString("dtype");

        // Sizes read from a file are checked before anything is allocated: the parameter count with checked arithmetic, and
        // no single tensor beyond 2^31 − 1 elements.
        try
        {
            long e = HiddenSize, v = VocabSize, i = IntermediateSize, q = checked((long)NumAttentionHeads * HeadDim), kv = checked((long)NumKeyValueHeads * HeadDim);
            foreach (var (field, n) in new[] { ("vocab_size", v * e), ("intermediate_size", i * e), ("num_attention_heads·head_dim", q * e), ("num_key_value_heads·head_dim", kv * e) })
                if (n > int.MaxValue) throw Error(field, $"makes a weight of {n:N0} elements; the limit of one tensor is {int.MaxValue:N0}");
            long perLayer = checked(q * e * 2 + kv * e * 2 + 3 * i * e + 2 * e + (QkNorm ? 2 * HeadDim : 0) + (QkvBias ? q + 2 * kv : 0) + (OutputProjectionBias ? e : 0));
            // a sequence classifier (architectures *ForSequenceClassification) has a score head [num_labels, hidden] instead of lm_head
            long head = ModelRegistry.IsSequenceClassifier(this)
                ? checked((long)(GetOptionalInt("num_labels") ?? (_raw["id2label"] as JsonObject)?.Count ?? 0) * e)
                : TieWordEmbeddings ? 0 : v * e;
            ParameterCount = checked(v * e + head + NumHiddenLayers * perLayer + e);
        }
        catch (OverflowException) { throw Error("num_hidden_layers", "the sizes overflow a 64-bit parameter count"); }
        if (NumHiddenLayers > MaxLayers) throw Error("num_hidden_layers", $"{NumHiddenLayers:N0} layers is implausible (the limit here is {MaxLayers:N0})");

        // Settings that would change the computation and are not implemented: refuse rather than compute something else.
        var act = GetString("hidden_act") ?? "silu";
        if (act != "silu") throw Error("hidden_act", $"\"{act}\" is not supported; expected \"silu\"");
        double dropout = GetDouble("attention_dropout", 0);
        if (dropout != 0) throw Error("attention_dropout", $"{dropout.ToString(CultureInfo.InvariantCulture)} is not supported (attention dropout is not implemented); expected 0.0");
        if (GetBool("use_sliding_window", false)) throw Error("use_sliding_window", "true is not supported (sliding-window attention is not implemented); expected false");
        if (GetBool("use_mrope", false)) throw Error("use_mrope", "true is not supported (multimodal RoPE is not implemented); expected false");
        if (_raw["rope_scaling"] is JsonNode scaling)
        {
            var kind = scaling is JsonObject o ? (o["rope_type"] ?? o["type"]) : null;
            if (kind is not JsonValue v || !v.TryGetValue<string>(out var k) || k != "default")
                throw Error("rope_scaling", $"{scaling.ToJsonString()} is not supported (only plain RoPE is implemented); expected null");
        }
        if (_raw["layer_types"] is JsonArray layers)
            foreach (var l in layers)
                if (l is not JsonValue lv || !lv.TryGetValue<string>(out var s) || s != "full_attention")
                    throw Error("layer_types", $"{l?.ToJsonString() ?? "null"} is not supported; expected \"full_attention\" for every layer");
    }

    /// <summary>Where the config came from (a path, or a description), used in error messages.</summary>
    public string Source { get; }

    /// <summary>The most decoder layers a config may declare (real models have under 200; a larger number is a damaged file).</summary>
    public const int MaxLayers = 4096;

    /// <summary>Parameters the config implies (tied embeddings counted once), computed without allocating.</summary>
    public long ParameterCount { get; }
    /// <summary>Qwen2 or Qwen3.</summary>
    public QwenArchitecture Architecture { get; }
    /// <summary>The model_type string as written ("qwen3" or "qwen2").</summary>
    public string ModelType => Architecture == QwenArchitecture.Qwen3 ? "qwen3" : "qwen2";
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
    /// <summary>Width of one head (Qwen3 may differ from hidden / heads).</summary>
    public int HeadDim { get; }
    /// <summary>ε of every RMSNorm.</summary>
    public double RmsNormEps { get; }
    /// <summary>RoPE base θ.</summary>
    public double RopeTheta { get; }
    /// <summary>lm_head shares embed_tokens' weight.</summary>
    public bool TieWordEmbeddings { get; }
    /// <summary>Longest sequence the model was trained for (informational; RoPE tables grow as needed).</summary>
    public int MaxPositionEmbeddings { get; }
    /// <summary>Standard deviation of the normal initialisation of Linear and Embedding weights.</summary>
    public double InitializerRange { get; }
    /// <summary>Qwen3's attention_bias (false for Qwen2, whose biases are fixed by the architecture).</summary>
    public bool AttentionBias { get; }
    /// <summary>bos_token_id, if set.</summary>
    public int? BosTokenId { get; }
    /// <summary>eos_token_id (one id or a list; empty if unset).</summary>
    public IReadOnlyList<int> EosTokenIds { get; }
    /// <summary>pad_token_id, if set.</summary>
    public int? PadTokenId { get; }
    /// <summary>torch_dtype (or dtype) as written, if any: the storage type of the checkpoint.</summary>
    public string? TorchDType { get; }

    /// <summary>q/k/v projections carry a bias (always for Qwen2; attention_bias for Qwen3).</summary>
    public bool QkvBias => Architecture == QwenArchitecture.Qwen2 || AttentionBias;
    /// <summary>o_proj carries a bias (Qwen3 with attention_bias only).</summary>
    public bool OutputProjectionBias => Architecture == QwenArchitecture.Qwen3 && AttentionBias;
    /// <summary>Per-head RMSNorm of queries and keys before RoPE (Qwen3).</summary>
    public bool QkNorm => Architecture == QwenArchitecture.Qwen3;

    /// <summary>Reads and validates a config.json.</summary>
    public static QwenConfig Load(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (FileNotFoundException e) { throw new ModelConfigException(path, null, "file not found", e); }
        return Parse(text, path);
    }

    /// <summary>Parses and validates config.json text; <paramref name="source"/> names it in errors.</summary>
    public static QwenConfig Parse(string json, string source = "config.json")
    {
        JsonNode? node;
        try { node = JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { AllowTrailingCommas = false }); }
        catch (JsonException e) { throw new ModelConfigException(source, null, $"not valid JSON: {e.Message}", e); }
        if (node is not JsonObject obj) throw new ModelConfigException(source, null, "expected a JSON object at the top level");
        return new QwenConfig(obj, source);
    }

    /// <summary>Validates a JSON object (deep-copied) as a config.</summary>
    public static QwenConfig FromJson(JsonObject obj, string source = "config") => new((JsonObject)obj.DeepClone(), source);

    /// <summary>A copy of every field, in file order.</summary>
    public JsonObject ToJsonObject() => (JsonObject)_raw.DeepClone();

    /// <inheritdoc/>
    IModelConfig IModelConfig.WithField(string field, JsonNode? value, bool remove) => With(field, value, remove);

    /// <summary>A new config with <paramref name="field"/> set (null value: JSON null) or removed (<paramref name="remove"/>), re-validated.</summary>
    public QwenConfig With(string field, JsonNode? value, bool remove = false)
    {
        var o = ToJsonObject();
        if (remove) o.Remove(field); else o[field] = value?.DeepClone();
        return new QwenConfig(o, Source);
    }

    /// <summary>The config as indented JSON (fields in their original order).</summary>
    public string ToJsonString() => ConfigJsonFile.ToJsonString(_raw);

    /// <summary>Writes config.json atomically (temporary file, then rename).</summary>
    public void Save(string path) => ConfigJsonFile.Save(_raw, path);

    // ---- typed access to any field (for extensions); a present field of the wrong type is an error naming it

    /// <summary>Whether the field is present and not null.</summary>
    public bool Has(string field) => _raw[field] is not null;

    /// <summary>The raw JSON of a field (a copy), or null when absent or null.</summary>
    public JsonNode? Get(string field) => _raw[field]?.DeepClone();

    /// <summary>An integer field, or <paramref name="fallback"/> when absent or null.</summary>
    public int GetInt(string field, int fallback) => GetOptionalInt(field) ?? fallback;

    /// <summary>An integer field, or null when absent or null.</summary>
    public int? GetOptionalInt(string field)
    {
        var n = _raw[field];
        if (n is null) return null;
        if (n is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<int>(out int i)) return i;
        throw Error(field, $"expected an integer, got {Describe(n)}");
    }

    /// <summary>A number field, or <paramref name="fallback"/> when absent or null.</summary>
    public double GetDouble(string field, double fallback)
    {
        var n = _raw[field];
        if (n is null) return fallback;
        if (n is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<double>(out double d)) return d;
        throw Error(field, $"expected a number, got {Describe(n)}");
    }

    /// <summary>A boolean field, or <paramref name="fallback"/> when absent or null.</summary>
    public bool GetBool(string field, bool fallback)
    {
        var n = _raw[field];
        if (n is null) return fallback;
        if (n is JsonValue v && v.GetValueKind() is JsonValueKind.True or JsonValueKind.False) return v.GetValue<bool>();
        throw Error(field, $"expected true or false, got {Describe(n)}");
    }

    /// <summary>A string field, or null when absent or null.</summary>
    public string? GetString(string field)
    {
        var n = _raw[field];
        if (n is null) return null;
        if (n is JsonValue v && v.GetValueKind() == JsonValueKind.String) return v.GetValue<string>();
        throw Error(field, $"expected a string, got {Describe(n)}");
    }

    /// <summary>A field holding one integer or a list of integers (eos_token_id); empty when absent or null.</summary>
    public IReadOnlyList<int> GetIntList(string field)
    {
        var n = _raw[field];
        if (n is null) return [];
        if (n is JsonArray a)
        {
            var r = new int[a.Count];
            for (int i = 0; i < r.Length; i++)
                r[i] = a[i] is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<int>(out int x) ? x
                    : throw Error(field, $"expected integers, element {i} is {Describe(a[i])}");
            return r;
        }
        return [GetOptionalInt(field)!.Value];
    }

    private int RequiredPositiveInt(string field)
    {
        int v = GetOptionalInt(field) ?? throw Error(field, "is required (expected a positive integer)");
        if (v <= 0) throw Error(field, $"expected a positive integer, got {v}");
        return v;
    }

    private ModelConfigException Error(string field, string problem) => new(Source, field, problem);

    private static string Describe(JsonNode? n) => n is null ? "null" : n.GetValueKind() switch
    {
        JsonValueKind.String => $"the string {n.ToJsonString()}",
        JsonValueKind.Number => $"the number {n.ToJsonString()}",
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.True or JsonValueKind.False => $"the boolean {n.ToJsonString()}",
        _ => n.ToJsonString(),
    };
}
