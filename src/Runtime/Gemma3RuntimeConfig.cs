using System.Globalization;
using System.Text.Json;

namespace BitDistill.Runtime;

/// <summary>The fields of a Hugging Face Gemma 3 text config.json (model_type "gemma3_text") that the runtime's forward uses, read
/// with transformers' Gemma3TextConfig defaults and the same rules as Models' Gemma3Config (which the runtime cannot reference):
/// Gemma RMSNorm (1 + weight), sandwich norms, q_norm/k_norm, scores scaled by query_pre_attn_scalar^-0.5 and optionally
/// soft-capped, gated GELU, interleaved sliding-window and global layers with their own RoPE bases (linear scaling on the global
/// ones), embeddings scaled by √hidden_size rounded to torch_dtype, and optional final logit soft-capping. A "gemma3"
/// (multimodal) config is refused: the runtime runs the text model.</summary>
public sealed class Gemma3RuntimeConfig : RuntimeModelConfig
{
    internal Gemma3RuntimeConfig(JsonElement root, string source) : base(root, source, ModelTypeOf(root, source))
    {
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
        RmsNormEps = PositiveNumber("rms_norm_eps", 1e-6);
        RopeTheta = PositiveNumber("rope_theta", 1_000_000.0);
        LocalRopeTheta = PositiveNumber("rope_local_base_freq", 10_000.0);
        RopeScalingFactor = RopeScaling(Field("rope_scaling"), "rope_scaling");
        if (Field("rope_parameters") is { } rp)
        {
            // newer transformers: {"full_attention": {...}, "sliding_attention": {...}} or one object for both
            if (rp.ValueKind != JsonValueKind.Object) throw Error("rope_parameters", "expected an object");
            bool perKind = false;
            if (rp.TryGetProperty("full_attention", out var full) && full.ValueKind == JsonValueKind.Object)
            {
                perKind = true;
                RopeTheta = RopeBase(full, "rope_parameters.full_attention", RopeTheta);
                RopeScalingFactor = RopeScaling(full, "rope_parameters.full_attention", baseOnly: true);
            }
            if (rp.TryGetProperty("sliding_attention", out var local) && local.ValueKind == JsonValueKind.Object)
            {
                perKind = true;
                LocalRopeTheta = RopeBase(local, "rope_parameters.sliding_attention", LocalRopeTheta);
                if (RopeScaling(local, "rope_parameters.sliding_attention", baseOnly: true) != 1)
                    throw Error("rope_parameters.sliding_attention", "scaled RoPE on the sliding-window layers is not supported");
            }
            if (!perKind)
            {
                RopeTheta = RopeBase(rp, "rope_parameters", RopeTheta);
                RopeScalingFactor = RopeScaling(rp, "rope_parameters", baseOnly: true);
            }
        }
        double queryScalar = PositiveNumber("query_pre_attn_scalar", 256);
        AttentionScale = (float)Math.Pow(queryScalar, -0.5);
        SlidingWindow = PositiveInt("sliding_window", 4096);
        AttentionSoftcap = OptionalCap("attn_logit_softcapping");
        FinalLogitSoftcap = OptionalCap("final_logit_softcapping");
        TieWordEmbeddings = Bool("tie_word_embeddings", true);
        EosTokenIds = IntList("eos_token_id");
        QkNorm = true;
        NormWeightOffset = true;
        SandwichNorms = true;
        string act = String("hidden_activation") ?? String("hidden_act") ?? "gelu_pytorch_tanh";
        Activation = act switch
        {
            "gelu_pytorch_tanh" or "gelu_new" or "gelu_fast" => RuntimeActivation.GeluTanh,
            "gelu" => RuntimeActivation.Gelu,
            _ => throw Error("hidden_activation", $"\"{act}\" is not supported; expected \"gelu_pytorch_tanh\" (or \"gelu\")"),
        };
        SlidingLayers = LayerTypes();
        EmbedScale = Embedding(String("torch_dtype") ?? String("dtype"));
        if (Number("attention_dropout", 0) != 0) throw Error("attention_dropout", "is not supported (attention dropout is not implemented); expected 0.0");
        if (Bool("attention_bias", false)) throw Error("attention_bias", "true is not supported (Gemma 3 projections have no bias); expected false");
        if (Bool("use_bidirectional_attention", false)) throw Error("use_bidirectional_attention", "true is not supported (only causal attention is implemented); expected false");
    }

    private static string ModelTypeOf(JsonElement root, string source)
    {
        string type = root.GetProperty("model_type").GetString()!;
        return type == "gemma3_text" ? type
            : throw new RuntimeModelException(source, "field", "model_type", "\"gemma3\" (the multimodal Gemma3ForConditionalGeneration) is not supported: the runtime runs the text model (\"gemma3_text\")");
    }

    /// <summary>√hidden_size as Hugging Face applies it: cast to the weights' dtype, so a bfloat16 model multiplies by bf16(√h).</summary>
    private float Embedding(string? dtype)
    {
        float s = (float)Math.Sqrt(HiddenSize);
        if (dtype == "float16") return (float)(Half)s;
        if (dtype != "bfloat16") return s;
        uint bits = BitConverter.SingleToUInt32Bits(s); // round to nearest even at 16 bits, as torch's cast
        bits += 0x7FFFu + ((bits >> 16) & 1u);
        return BitConverter.UInt32BitsToSingle(bits & 0xFFFF0000u);
    }

    private bool[] LayerTypes()
    {
        if (Field("layer_types") is { } lt)
        {
            if (lt.ValueKind != JsonValueKind.Array) throw Error("layer_types", "expected an array of \"sliding_attention\" / \"full_attention\"");
            if (lt.GetArrayLength() != NumHiddenLayers) throw Error("layer_types", $"has {lt.GetArrayLength()} entries; num_hidden_layers is {NumHiddenLayers}");
            return lt.EnumerateArray().Select((e, i) => e.ValueKind == JsonValueKind.String ? e.GetString() switch
            {
                "sliding_attention" => true,
                "full_attention" => false,
                var s => throw Error($"layer_types[{i}]", $"\"{s}\" is not supported; expected \"sliding_attention\" or \"full_attention\""),
            } : throw Error($"layer_types[{i}]", "expected a string")).ToArray();
        }
        // every pattern-th layer is global (sliding_window_pattern, or transformers' _sliding_window_pattern)
        int pattern = Int("sliding_window_pattern") ?? Int("_sliding_window_pattern") ?? 6;
        if (pattern <= 0) throw Error("sliding_window_pattern", $"expected a positive integer, got {pattern}");
        return Enumerable.Range(0, NumHiddenLayers).Select(i => (i + 1) % pattern != 0).ToArray();
    }

    private float OptionalCap(string name)
    {
        if (!Has(name)) return 0;
        double v = Number(name, 0);
        return v > 0 && double.IsFinite(v) ? (float)v : throw Error(name, $"expected a positive number or null, got {v.ToString(CultureInfo.InvariantCulture)}");
    }

    // rope_scaling: null / "default" → 1; "linear" → its factor (≥ 1); anything else is refused. In rope_parameters a missing
    // rope_type means plain RoPE with only rope_theta given.
    private double RopeScaling(JsonElement? node, string field, bool baseOnly = false)
    {
        if (node is not { } o) return 1;
        if (o.ValueKind != JsonValueKind.Object) throw Error(field, "expected an object or null");
        JsonElement kind = default;
        bool hasKind = (o.TryGetProperty("rope_type", out kind) || o.TryGetProperty("type", out kind)) && kind.ValueKind != JsonValueKind.Null;
        if (!hasKind && baseOnly) return 1;
        string k = hasKind && kind.ValueKind == JsonValueKind.String ? kind.GetString()! : "(missing)";
        if (k == "default") return 1;
        if (k != "linear") throw Error(field, $"rope_type \"{k}\" is not supported (only \"linear\" and \"default\" are)");
        double f = o.TryGetProperty("factor", out var fv) && fv.ValueKind == JsonValueKind.Number ? fv.GetDouble() : double.NaN;
        return f >= 1 ? f : throw Error(field + ".factor", "expected a number ≥ 1");
    }

    private double RopeBase(JsonElement o, string field, double fallback)
    {
        if (!o.TryGetProperty("rope_theta", out var v) || v.ValueKind == JsonValueKind.Null) return fallback;
        return v.ValueKind == JsonValueKind.Number && v.GetDouble() is var d && d > 0 ? d : throw Error(field + ".rope_theta", $"expected a positive number, got {v.GetRawText()}");
    }
}
