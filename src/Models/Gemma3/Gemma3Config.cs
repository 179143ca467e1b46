using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace BitDistill.Models.Gemma3;

/// <summary>A Hugging Face config.json of a Gemma 3 text model: model_type "gemma3_text" (Gemma3ForCausalLM), or "gemma3"
/// (Gemma3ForConditionalGeneration) whose text_config describes the language model (weights under "language_model."; the
/// vision tower is not loaded). Every field is kept and written back; the fields that shape the computation are validated and
/// typed, with transformers' Gemma3TextConfig defaults; settings that would change the computation and are not implemented
/// are refused, unknown fields are kept.</summary>
public sealed class Gemma3Config : IModelConfig
{
    private readonly JsonObject _raw;
    private readonly JsonObject _text; // the text fields: _raw itself, or its text_config
    private readonly string _textPrefix; // "" or "text_config." for messages

    private Gemma3Config(JsonObject raw, string source)
    {
        _raw = raw;
        Source = source;
        ModelType = Str(_raw, "model_type", "") switch
        {
            "gemma3_text" => "gemma3_text",
            "gemma3" => "gemma3",
            var t => throw new ModelConfigException(source, "model_type", $"unknown model type \"{t}\"; expected \"gemma3_text\" or \"gemma3\""),
        };
        if (IsMultimodal)
        {
            _text = _raw["text_config"] as JsonObject ?? (_raw["text_config"] is null
                ? throw new ModelConfigException(source, "text_config", "is required for model_type \"gemma3\" (the language model's settings)")
                : throw new ModelConfigException(source, "text_config", "expected an object"));
            _textPrefix = "text_config.";
        }
        else { _text = _raw; _textPrefix = ""; }

        // Gemma3TextConfig's defaults (the 4B model's sizes) for absent fields.
        VocabSize = PositiveInt("vocab_size", 262_208);
        HiddenSize = PositiveInt("hidden_size", 2304);
        IntermediateSize = PositiveInt("intermediate_size", 9216);
        NumHiddenLayers = PositiveInt("num_hidden_layers", 26);
        NumAttentionHeads = PositiveInt("num_attention_heads", 8);
        NumKeyValueHeads = PositiveInt("num_key_value_heads", 4);
        if (NumAttentionHeads % NumKeyValueHeads != 0)
            throw Error("num_key_value_heads", $"{NumKeyValueHeads} does not divide num_attention_heads {NumAttentionHeads}");
        HeadDim = PositiveInt("head_dim", 256);
        if (HeadDim % 2 != 0) throw Error("head_dim", $"must be even for rotary embeddings, got {HeadDim}");
        MaxPositionEmbeddings = PositiveInt("max_position_embeddings", 131_072);
        InitializerRange = Num("initializer_range", 0.02);
        RmsNormEps = Num("rms_norm_eps", 1e-6);
        if (!(RmsNormEps > 0)) throw Error("rms_norm_eps", $"must be positive, got {RmsNormEps}");
        RopeTheta = Num("rope_theta", 1_000_000.0);
        RopeLocalBaseFreq = Num("rope_local_base_freq", 10_000.0);
        if (!(RopeTheta > 0)) throw Error("rope_theta", $"must be positive, got {RopeTheta}");
        if (!(RopeLocalBaseFreq > 0)) throw Error("rope_local_base_freq", $"must be positive, got {RopeLocalBaseFreq}");
        QueryPreAttnScalar = Num("query_pre_attn_scalar", 256);
        if (!(QueryPreAttnScalar > 0)) throw Error("query_pre_attn_scalar", $"must be positive, got {QueryPreAttnScalar}");
        SlidingWindow = PositiveInt("sliding_window", 4096);
        FinalLogitSoftcapping = OptionalPositive("final_logit_softcapping");
        AttnLogitSoftcapping = OptionalPositive("attn_logit_softcapping");
        // tie_word_embeddings: Gemma3TextConfig's default is true; a "gemma3" file may carry it at the top level.
        TieWordEmbeddings = Bool(_text, "tie_word_embeddings", null) ?? Bool(_raw, "tie_word_embeddings", null) ?? true;
        BosTokenId = OptInt(_text, "bos_token_id") ?? OptInt(_raw, "bos_token_id");
        EosTokenIds = IntList(_text, "eos_token_id") is { Count: > 0 } eos ? eos : IntList(_raw, "eos_token_id");
        PadTokenId = OptInt(_text, "pad_token_id") ?? OptInt(_raw, "pad_token_id");
        // as for Qwen: a negative special-token id is a damaged file (Hugging Face writes null for "none")
        foreach (var (field, id) in EosTokenIds.Select(i => ("eos_token_id", (int?)i)).Append(("bos_token_id", BosTokenId)).Append(("pad_token_id", PadTokenId)))
            if (id < 0) throw Error(field, $"expected a token id (0 or more) or null, got {id}");
        TorchDType = Str(_text, "torch_dtype", null) ?? Str(_text, "dtype", null) ?? Str(_raw, "torch_dtype", null) ?? Str(_raw, "dtype", null);

        string act = Str(_text, "hidden_activation", null) ?? Str(_text, "hidden_act", null) ?? "gelu_pytorch_tanh";
        TanhGelu = act switch
        {
            "gelu_pytorch_tanh" or "gelu_new" or "gelu_fast" => true,
            "gelu" => false,
            _ => throw Error("hidden_activation", $"\"{act}\" is not supported; expected \"gelu_pytorch_tanh\" (or \"gelu\")"),
        };
        LayerTypes = ReadLayerTypes();
        RopeScalingFactor = ReadRopeScaling(_text["rope_scaling"], "rope_scaling");
        // Newer transformers write RoPE per layer kind: rope_parameters {"full_attention": {...}, "sliding_attention": {...}}.
        if (_text["rope_parameters"] is JsonNode rpNode)
        {
            if (rpNode is not JsonObject rp) throw Error("rope_parameters", "expected an object");
            if (rp["full_attention"] is JsonObject full)
            {
                RopeTheta = RopeBase(full, "rope_parameters.full_attention", RopeTheta);
                RopeScalingFactor = ReadRopeScaling(full, "rope_parameters.full_attention");
            }
            if (rp["sliding_attention"] is JsonObject local)
            {
                RopeLocalBaseFreq = RopeBase(local, "rope_parameters.sliding_attention", RopeLocalBaseFreq);
                if (ReadRopeScaling(local, "rope_parameters.sliding_attention") != 1)
                    throw Error("rope_parameters.sliding_attention", "scaled RoPE on the sliding-window layers is not supported");
            }
            if (rp["full_attention"] is null && rp["sliding_attention"] is null)
            {
                RopeTheta = RopeBase(rp, "rope_parameters", RopeTheta);
                RopeScalingFactor = ReadRopeScaling(rp, "rope_parameters");
            }
        }

        if (Num("attention_dropout", 0) != 0) throw Error("attention_dropout", "is not supported (attention dropout is not implemented); expected 0.0");
        if (Bool(_text, "attention_bias", null) == true) throw Error("attention_bias", "true is not supported (Gemma 3 projections have no bias); expected false");
        if (Bool(_text, "use_bidirectional_attention", null) == true) throw Error("use_bidirectional_attention", "true is not supported (only causal attention is implemented); expected false");

        try
        {
            long e = HiddenSize, v = VocabSize, i = IntermediateSize, q = checked((long)NumAttentionHeads * HeadDim), kv = checked((long)NumKeyValueHeads * HeadDim);
            foreach (var (field, n) in new[] { ("vocab_size", v * e), ("intermediate_size", i * e), ("num_attention_heads·head_dim", q * e), ("num_key_value_heads·head_dim", kv * e) })
                if (n > int.MaxValue) throw Error(field, $"makes a weight of {n:N0} elements; the limit of one tensor is {int.MaxValue:N0}");
            long perLayer = checked(q * e * 2 + kv * e * 2 + 3 * i * e + 4 * e + 2 * HeadDim);
            ParameterCount = checked(v * e + (TieWordEmbeddings ? 0 : v * e) + NumHiddenLayers * perLayer + e);
        }
        catch (OverflowException) { throw Error("num_hidden_layers", "the sizes overflow a 64-bit parameter count"); }
        if (NumHiddenLayers > Qwen.QwenConfig.MaxLayers) throw Error("num_hidden_layers", $"{NumHiddenLayers:N0} layers is implausible (the limit here is {Qwen.QwenConfig.MaxLayers:N0})");
    }

    /// <inheritdoc/>
    public string Source { get; }
    /// <summary>"gemma3_text" or "gemma3".</summary>
    public string ModelType { get; }
    /// <summary>A "gemma3" (multimodal) config: the language model sits under "language_model." and its settings in text_config.</summary>
    public bool IsMultimodal => ModelType == "gemma3";
    /// <inheritdoc/>
    public int VocabSize { get; }
    /// <inheritdoc/>
    public int HiddenSize { get; }
    /// <summary>Width of the gated GELU MLP.</summary>
    public int IntermediateSize { get; }
    /// <inheritdoc/>
    public int NumHiddenLayers { get; }
    /// <inheritdoc/>
    public int NumAttentionHeads { get; }
    /// <inheritdoc/>
    public int NumKeyValueHeads { get; }
    /// <inheritdoc/>
    public int HeadDim { get; }
    /// <inheritdoc/>
    public int MaxPositionEmbeddings { get; }
    /// <summary>Standard deviation of the normal initialisation of Linear and Embedding weights.</summary>
    public double InitializerRange { get; }
    /// <summary>ε of every RMSNorm.</summary>
    public double RmsNormEps { get; }
    /// <summary>RoPE base of the global (full-attention) layers.</summary>
    public double RopeTheta { get; }
    /// <summary>RoPE base of the local (sliding-window) layers.</summary>
    public double RopeLocalBaseFreq { get; }
    /// <summary>Linear RoPE scaling factor of the global layers (rope_scaling {"rope_type": "linear", "factor": f}); 1 when unset.</summary>
    public double RopeScalingFactor { get; }
    /// <summary>Attention scores are scaled by query_pre_attn_scalar^-0.5 (not head_dim^-0.5).</summary>
    public double QueryPreAttnScalar { get; }
    /// <summary>Keys a sliding-window layer sees: those less than this many positions back (the query's own included).</summary>
    public int SlidingWindow { get; }
    /// <summary>Per layer: true for a sliding-window (local) layer, false for a full-attention (global) one.</summary>
    public IReadOnlyList<bool> LayerTypes { get; }
    /// <summary>cap·tanh(logits/cap) on the LM head's output, when set.</summary>
    public double? FinalLogitSoftcapping { get; }
    /// <summary>cap·tanh(scores/cap) on the attention scores, when set.</summary>
    public double? AttnLogitSoftcapping { get; }
    /// <summary>The MLP's activation is GELU with the tanh approximation (gelu_pytorch_tanh); false: exact GELU.</summary>
    public bool TanhGelu { get; }
    /// <inheritdoc/>
    public bool TieWordEmbeddings { get; }
    /// <summary>bos_token_id, if set.</summary>
    public int? BosTokenId { get; }
    /// <inheritdoc/>
    public IReadOnlyList<int> EosTokenIds { get; }
    /// <summary>pad_token_id, if set.</summary>
    public int? PadTokenId { get; }
    /// <summary>torch_dtype (or dtype) as written: the dtype Hugging Face computes in, which rounds the embedding scale.</summary>
    public string? TorchDType { get; }
    /// <inheritdoc/>
    public long ParameterCount { get; }

    /// <summary>√hidden_size as Hugging Face applies it: the scale buffer is cast to the weights' dtype (torch_dtype), so a
    /// bfloat16 model multiplies by bf16(√1152) = 34.0, not 33.94.</summary>
    public float EmbedScale
    {
        get
        {
            float s = (float)Math.Sqrt(HiddenSize);
            return TorchDType switch
            {
                "bfloat16" => RoundToBFloat16(s),
                "float16" => (float)(Half)s,
                _ => s,
            };
        }
    }

    // round to nearest even at 16 bits, as torch's float → bfloat16 cast (s is finite and positive here)
    private static float RoundToBFloat16(float s)
    {
        uint bits = BitConverter.SingleToUInt32Bits(s);
        bits += 0x7FFFu + ((bits >> 16) & 1u);
        return BitConverter.UInt32BitsToSingle(bits & 0xFFFF0000u);
    }

    /// <summary>The prefix of the language model's tensors: "language_model." for a "gemma3" checkpoint, else "".</summary>
    public string WeightPrefix => IsMultimodal ? "language_model." : "";

    private IReadOnlyList<bool> ReadLayerTypes()
    {
        if (_text["layer_types"] is JsonNode lt)
        {
            if (lt is not JsonArray a) throw Error("layer_types", "expected an array of \"sliding_attention\" / \"full_attention\"");
            if (a.Count != NumHiddenLayers) throw Error("layer_types", $"has {a.Count} entries; num_hidden_layers is {NumHiddenLayers}");
            return a.Select((n, i) => n is JsonValue v && v.TryGetValue<string>(out var s) ? s switch
            {
                "sliding_attention" => true,
                "full_attention" => false,
                _ => throw Error($"layer_types[{i}]", $"\"{s}\" is not supported; expected \"sliding_attention\" or \"full_attention\""),
            } : throw Error($"layer_types[{i}]", "expected a string")).ToArray();
        }
        // sliding_window_pattern (or transformers' _sliding_window_pattern): every pattern-th layer is global.
        int pattern = OptInt(_text, "sliding_window_pattern") ?? OptInt(_text, "_sliding_window_pattern") ?? 6;
        if (pattern <= 0) throw Error("sliding_window_pattern", $"expected a positive integer, got {pattern}");
        return Enumerable.Range(0, NumHiddenLayers).Select(i => (i + 1) % pattern != 0).ToArray();
    }

    private double ReadRopeScaling(JsonNode? node, string field)
    {
        if (node is null) return 1;
        if (node is not JsonObject o) throw Error(field, "expected an object or null");
        var kindNode = o["rope_type"] ?? o["type"];
        if (kindNode is null && field.StartsWith("rope_parameters", StringComparison.Ordinal)) return 1; // only rope_theta given
        string kind = kindNode is JsonValue v && v.TryGetValue<string>(out var k) ? k : "(missing)";
        if (kind == "default") return 1;
        if (kind != "linear") throw Error(field, $"rope_type \"{kind}\" is not supported (only \"linear\" and \"default\" are)");
        double f = o["factor"] is JsonValue fv && fv.GetValueKind() == JsonValueKind.Number ? fv.GetValue<double>() : double.NaN;
        if (!(f >= 1)) throw Error(field + ".factor", "expected a number ≥ 1");
        return f;
    }

    private double RopeBase(JsonObject o, string field, double fallback)
    {
        var n = o["rope_theta"];
        if (n is null) return fallback;
        if (n is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<double>(out double d) && d > 0) return d;
        throw Error(field + ".rope_theta", $"expected a positive number, got {n.ToJsonString()}");
    }

    /// <summary>Reads and validates a config.json.</summary>
    public static Gemma3Config Load(string path) => (Gemma3Config)ModelRegistry.LoadConfig(path);

    /// <summary>Validates a JSON object (deep-copied) as a config.</summary>
    public static Gemma3Config FromJson(JsonObject obj, string source = "config") => new((JsonObject)obj.DeepClone(), source);

    /// <summary>A copy of every field, in file order.</summary>
    public JsonObject ToJsonObject() => (JsonObject)_raw.DeepClone();

    /// <inheritdoc/>
    public bool Has(string field) => _raw[field] is not null;
    /// <inheritdoc/>
    public JsonNode? Get(string field) => _raw[field]?.DeepClone();

    /// <inheritdoc/>
    public IModelConfig WithField(string field, JsonNode? value, bool remove = false)
    {
        var o = ToJsonObject();
        if (remove) o.Remove(field); else o[field] = value?.DeepClone();
        return new Gemma3Config(o, Source);
    }

    /// <summary>The config as indented JSON (fields in their original order).</summary>
    public string ToJsonString() => ConfigJsonFile.ToJsonString(_raw);

    /// <inheritdoc/>
    public void Save(string path) => ConfigJsonFile.Save(_raw, path);

    // ---- typed reads of the text fields; a present field of the wrong type is an error naming it

    private ModelConfigException Error(string field, string problem) => new(Source, _textPrefix + field, problem);

    private int PositiveInt(string field, int fallback)
    {
        int v = OptInt(_text, field) ?? fallback;
        if (v <= 0) throw Error(field, $"expected a positive integer, got {v}");
        return v;
    }

    private double Num(string field, double fallback)
    {
        var n = _text[field];
        if (n is null) return fallback;
        if (n is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<double>(out double d) && double.IsFinite(d)) return d;
        throw Error(field, $"expected a number, got {n.ToJsonString()}");
    }

    private double? OptionalPositive(string field)
    {
        if (_text[field] is null) return null;
        double v = Num(field, 0);
        if (!(v > 0)) throw Error(field, $"expected a positive number or null, got {v.ToString(CultureInfo.InvariantCulture)}");
        return v;
    }

    private int? OptInt(JsonObject o, string field)
    {
        var n = o[field];
        if (n is null) return null;
        if (n is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<int>(out int i)) return i;
        throw new ModelConfigException(Source, (ReferenceEquals(o, _raw) ? "" : _textPrefix) + field, $"expected an integer, got {n.ToJsonString()}");
    }

    private bool? Bool(JsonObject o, string field, bool? fallback)
    {
        var n = o[field];
        if (n is null) return fallback;
        if (n is JsonValue v && v.GetValueKind() is JsonValueKind.True or JsonValueKind.False) return v.GetValue<bool>();
        throw new ModelConfigException(Source, (ReferenceEquals(o, _raw) ? "" : _textPrefix) + field, $"expected true or false, got {n.ToJsonString()}");
    }

    private string? Str(JsonObject o, string field, string? fallback)
    {
        var n = o[field];
        if (n is null) return fallback;
        if (n is JsonValue v && v.GetValueKind() == JsonValueKind.String) return v.GetValue<string>();
        throw new ModelConfigException(Source, (ReferenceEquals(o, _raw) ? "" : _textPrefix) + field, $"expected a string, got {n.ToJsonString()}");
    }

    private IReadOnlyList<int> IntList(JsonObject o, string field)
    {
        var n = o[field];
        if (n is null) return [];
        if (n is JsonArray a)
            return a.Select((x, i) => x is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<int>(out int k) ? k
                : throw new ModelConfigException(Source, field, $"expected integers, element {i} is {x?.ToJsonString() ?? "null"}")).ToArray();
        return [OptInt(o, field)!.Value];
    }
}
