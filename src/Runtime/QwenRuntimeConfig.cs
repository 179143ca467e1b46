using System.Globalization;
using System.Text.Json;

namespace BitDistill.Runtime;

/// <summary>The fields of a Hugging Face Qwen2/Qwen2.5/Qwen3 config.json that the runtime's forward uses, read and validated with
/// the defaults of transformers' Qwen3Config/Qwen2Config (the same rules as Models' QwenConfig, which the runtime cannot reference).
/// Settings that would change the computation and are not implemented are refused, and so is a ternary training checkpoint (a
/// "bitnet" field); an exported ternary model carries a <see cref="PackedExportInfo"/> object instead.</summary>
public sealed class QwenRuntimeConfig : RuntimeModelConfig
{
    internal QwenRuntimeConfig(JsonElement root, string source) : base(root, source, ModelTypeOf(root, source))
    {
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
        else if (qwen3 && !Present("head_dim")) HeadDim = 128; // Qwen3Config's default
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
        LocalRopeTheta = RopeTheta;
        AttentionScale = 1f / MathF.Sqrt(HeadDim);
        Activation = RuntimeActivation.Silu;
        TieWordEmbeddings = Bool("tie_word_embeddings", false);
        MaxPositionEmbeddings = Int("max_position_embeddings") ?? 32768;
        bool attentionBias = qwen3 && Bool("attention_bias", false);
        QkvBias = !qwen3 || attentionBias;
        OutputProjectionBias = attentionBias;
        QkNorm = qwen3;
        EosTokenIds = IntList("eos_token_id");
        SlidingLayers = new bool[NumHiddenLayers];

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

    private static string ModelTypeOf(JsonElement root, string source)
    {
        var t = root.TryGetProperty("model_type", out var v) && v.ValueKind != JsonValueKind.Null ? v : (JsonElement?)null;
        if (t is null) throw new RuntimeModelException(source, "field", "model_type", "is required (expected \"qwen3\", \"qwen2\" or \"gemma3_text\")");
        if (t.Value.ValueKind != JsonValueKind.String) throw new RuntimeModelException(source, "field", "model_type", $"expected a string, got {t.Value.GetRawText()}");
        string type = t.Value.GetString()!;
        return type is "qwen3" or "qwen2" ? type
            : throw new RuntimeModelException(source, "field", "model_type", $"unknown model type \"{type}\"; the runtime runs \"qwen3\", \"qwen2\" and \"gemma3_text\"");
    }

    /// <summary>Reads and validates a Qwen config.json; errors name the file and the field.</summary>
    public static new QwenRuntimeConfig Load(string path) => Parse(ReadText(path), path);

    /// <summary>Parses and validates Qwen config.json text; <paramref name="source"/> names it in errors.</summary>
    public static new QwenRuntimeConfig Parse(string json, string source = "config.json") => new(ParseRoot(json, source), source);
}
