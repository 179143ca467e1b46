using System.Text.Json.Nodes;

namespace BitDistill.Models.BitNet;

/// <summary>The "bitnet" field of config.json: says the model is ternary, which quantiser it uses and where SubLN sits.
/// Example: {"weight_quant": "absmean", "weight_scale": "per_tensor", "group_size": 128, "activation_quant": "absmax_int8_per_token",
/// "subln": "paper", "subln_eps": 1e-8}; GPTQ-/AWQ-style training adds "weight_quant": "gptq" | "awq", "requant_every" and "stats_decay".</summary>
public sealed record BitNetConfig
{
    /// <summary>The config.json field that holds this object.</summary>
    public const string Field = "bitnet";

    public WeightScaleMode WeightScale { get; init; } = WeightScaleMode.PerTensor;
    public int GroupSize { get; init; } = 128;
    public SubLnPlacement SubLn { get; init; } = SubLnPlacement.Paper;
    /// <summary>SubLN epsilon (the official code uses 1e-8).</summary>
    public double SubLnEps { get; init; } = 1e-8;
    /// <summary>The quantiser the weights train with (JSON "weight_quant": "absmean", "gptq" or "awq"). GPTQ and AWQ use per-row
    /// scales whatever <see cref="WeightScale"/> says and keep running input statistics as buffers (see <see cref="BitLinear"/>).</summary>
    public WeightQuantizer WeightQuant { get; init; } = WeightQuantizer.Absmean;
    /// <summary>GPTQ/AWQ in training: optimizer steps between two solves (JSON "requant_every"; default <see cref="DefaultRequantEvery"/>).</summary>
    public int RequantEvery { get; init; } = DefaultRequantEvery;
    /// <summary>GPTQ/AWQ in training: decay d of the running input statistics, S ← d·S + (1 − d)·S_batch (JSON "stats_decay").</summary>
    public double StatsDecay { get; init; } = DefaultStatsDecay;

    /// <summary>Default optimizer steps between GPTQ/AWQ solves in training.</summary>
    public const int DefaultRequantEvery = 50;
    /// <summary>Default decay of the running input statistics (a horizon of about 20 batches).</summary>
    public const double DefaultStatsDecay = 0.95;

    /// <summary>Post-training calibration whose fixed scales the BitLinears hold (JSON "gptq", "awq"; absent or null = none).</summary>
    public CalibrationKind Calibration { get; init; }

    /// <summary>The config.json field in which Hugging Face's quantizers look for a checkpoint's quantisation.</summary>
    public const string QuantizationField = "quantization_config";

    /// <summary>The BitNet settings of a model config, or null for a full-precision model; a "quantization_config" beside
    /// them is checked against them (see <see cref="CheckQuantizationConfig"/>).</summary>
    public static BitNetConfig? From(IModelConfig config)
    {
        var bitnet = config.Get(Field) is JsonNode node ? Parse(node, config.Source, Field) : null;
        CheckQuantizationConfig(config.Get(QuantizationField), bitnet, config.Source);
        return bitnet;
    }

    /// <summary><paramref name="config"/> with this object as its "bitnet" field and the matching "quantization_config".</summary>
    public IModelConfig ApplyTo(IModelConfig config) => config
        .WithField(QuantizationField, null, remove: true)
        .WithField(Field, ToJson())
        .WithField(QuantizationField, ToQuantizationConfig());

    /// <summary>The "quantization_config" of Hugging Face's BitNet integration (transformers' BitNetQuantConfig) that describes
    /// these checkpoints as far as it can: latent full-precision weights ternarised on the fly ("autobitlinear", "online"),
    /// every Linear converted but lm_head. SubLN is a separate norm inside the block, not the per-layer RMSNorm that
    /// use_rms_norm adds, so use_rms_norm is false and Hugging Face's own code does not apply our SubLN.</summary>
    public JsonObject ToQuantizationConfig() => new()
    {
        ["quant_method"] = "bitnet",
        ["linear_class"] = "autobitlinear",
        ["quantization_mode"] = "online",
        ["use_rms_norm"] = false,
        ["rms_norm_eps"] = SubLnEps,
        ["modules_to_not_convert"] = new JsonArray("lm_head"),
    };

    /// <summary>Refuses a "quantization_config" (<paramref name="q"/>) that contradicts the "bitnet" object
    /// (<paramref name="bitnet"/>, null when absent): another quant_method, packed ("bitlinear"/"offline") weights, a
    /// per-layer RMSNorm, another epsilon or other unconverted modules; and BitNet quantisation without the "bitnet" object
    /// (a Hugging Face BitNet checkpoint, whose packed weights this loader does not read), which would otherwise load as full
    /// precision. No quantization_config (older outputs) is accepted.</summary>
    public static void CheckQuantizationConfig(JsonNode? q, BitNetConfig? bitnet, string source)
    {
        if (q is null) return;
        const string F = QuantizationField;
        if (q is not JsonObject o) throw new ModelConfigException(source, F, "expected an object");
        string? Str(string key)
        {
            var v = o[key];
            if (v is null) return null;
            return v is JsonValue jv && jv.TryGetValue<string>(out var s) ? s : throw new ModelConfigException(source, $"{F}.{key}", $"expected a string, got {v.ToJsonString()}");
        }
        var method = Str("quant_method") ?? throw new ModelConfigException(source, $"{F}.quant_method", "missing");
        if (method != "bitnet")
            throw new ModelConfigException(source, $"{F}.quant_method", bitnet is null
                ? $"'{method}' checkpoints are not supported (only full-precision models and bitdistill's ternary ones load)"
                : $"'{method}' contradicts the '{Field}' object, which makes the model ternary (expected 'bitnet')");
        if (bitnet is null)
            throw new ModelConfigException(source, $"{F}.quant_method", $"'bitnet' without a '{Field}' object: a Hugging Face BitNet checkpoint (packed weights) is not supported; bitdistill's ternary models carry both");
        if (Str("linear_class") is { } lc && lc != "autobitlinear")
            throw new ModelConfigException(source, $"{F}.linear_class", $"'{lc}' contradicts the '{Field}' object: its weights are latent full precision, ternarised on the fly ('autobitlinear')");
        if (Str("quantization_mode") is { } qm && qm != "online")
            throw new ModelConfigException(source, $"{F}.quantization_mode", $"'{qm}' contradicts the '{Field}' object: its weights are quantised on the fly ('online'), not stored packed");
        if (o["use_rms_norm"] is { } urn && !(urn is JsonValue u && u.TryGetValue<bool>(out bool b) && !b))
            throw new ModelConfigException(source, $"{F}.use_rms_norm", $"{urn.ToJsonString()} contradicts the '{Field}' object: SubLN ('{bitnet.SubLn.ToString().ToLowerInvariant()}') is a norm of its own in the block, not one inside every BitLinear (expected false)");
        if (o["rms_norm_eps"] is { } epsNode)
        {
            if (!(epsNode is JsonValue ev && ev.TryGetValue<double>(out double eps)))
                throw new ModelConfigException(source, $"{F}.rms_norm_eps", $"expected a number, got {epsNode.ToJsonString()}");
            if (Math.Abs(eps - bitnet.SubLnEps) > 1e-9 * Math.Max(Math.Abs(eps), bitnet.SubLnEps))
                throw new ModelConfigException(source, $"{F}.rms_norm_eps", $"{eps:R} contradicts {Field}.subln_eps {bitnet.SubLnEps:R}");
        }
        if (o["modules_to_not_convert"] is { } mods)
        {
            var names = mods is JsonArray arr && arr.All(n => n is JsonValue nv && nv.TryGetValue<string>(out _))
                ? arr.Select(n => n!.GetValue<string>()).ToHashSet(StringComparer.Ordinal)
                : throw new ModelConfigException(source, $"{F}.modules_to_not_convert", "expected an array of module names");
            if (!names.SetEquals(["lm_head"]))
                throw new ModelConfigException(source, $"{F}.modules_to_not_convert", $"[{string.Join(", ", names)}] contradicts the '{Field}' object, which converts every Linear but lm_head (expected [\"lm_head\"])");
        }
    }

    /// <summary>Parses the settings object <paramref name="node"/> (from <paramref name="source"/>, at <paramref name="field"/>);
    /// errors name the file and the field.</summary>
    public static BitNetConfig Parse(JsonNode node, string source, string field = Field)
    {
        if (node is not JsonObject o) throw new ModelConfigException(source, field, "expected an object");
        string Str(string key, string dflt)
        {
            var v = o[key];
            if (v is null) return dflt;
            try { return v.GetValue<string>(); }
            catch (Exception e) when (e is InvalidOperationException or FormatException) { throw new ModelConfigException(source, $"{field}.{key}", "expected a string", e); }
        }
        var wq = Str("weight_quant", "absmean") switch
        {
            "absmean" => WeightQuantizer.Absmean,
            "gptq" => WeightQuantizer.Gptq,
            "awq" => WeightQuantizer.Awq,
            var q => throw new ModelConfigException(source, $"{field}.weight_quant", $"'{q}' is not one of absmean, gptq, awq"),
        };
        var aq = Str("activation_quant", "absmax_int8_per_token");
        if (aq != "absmax_int8_per_token") throw new ModelConfigException(source, $"{field}.activation_quant", $"'{aq}' is not supported (expected 'absmax_int8_per_token')");
        var scale = Str("weight_scale", "per_tensor") switch
        {
            "per_tensor" => WeightScaleMode.PerTensor,
            "per_channel" => WeightScaleMode.PerChannel,
            "per_group" => WeightScaleMode.PerGroup,
            var s => throw new ModelConfigException(source, $"{field}.weight_scale", $"'{s}' is not one of per_tensor, per_channel, per_group"),
        };
        var subln = Str("subln", "paper") switch
        {
            "none" => SubLnPlacement.None,
            "paper" => SubLnPlacement.Paper,
            "all" => SubLnPlacement.All,
            var s => throw new ModelConfigException(source, $"{field}.subln", $"'{s}' is not one of none, paper, all"),
        };
        int group = 128, every = DefaultRequantEvery; double eps = 1e-8, decay = DefaultStatsDecay;
        try
        {
            if (o["group_size"] is { } g) group = g.GetValue<int>();
            if (o["subln_eps"] is { } e) eps = e.GetValue<double>();
            if (o["requant_every"] is { } r) every = r.GetValue<int>();
            if (o["stats_decay"] is { } d) decay = d.GetValue<double>();
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException) { throw new ModelConfigException(source, field, "group_size and requant_every must be integers, subln_eps and stats_decay numbers", e); }
        if (every <= 0) throw new ModelConfigException(source, $"{field}.requant_every", $"must be positive, got {every}");
        if (!(decay >= 0 && decay < 1)) throw new ModelConfigException(source, $"{field}.stats_decay", $"must be in [0, 1), got {decay}");
        if (group <= 0) throw new ModelConfigException(source, $"{field}.group_size", $"must be positive, got {group}");
        if (!(eps > 0)) throw new ModelConfigException(source, $"{field}.subln_eps", $"must be positive, got {eps}");
        var calib = (o["calibration"] is null ? null : Str("calibration", "")) switch
        {
            null => CalibrationKind.None,
            "gptq" => CalibrationKind.Gptq,
            "awq" => CalibrationKind.Awq,
            var c => throw new ModelConfigException(source, $"{field}.calibration", $"'{c}' is not one of gptq, awq"),
        };
        if (calib != CalibrationKind.None && wq != WeightQuantizer.Absmean)
            throw new ModelConfigException(source, $"{field}.calibration", $"a post-training calibration cannot be combined with weight_quant '{Str("weight_quant", "")}'");
        return new BitNetConfig { WeightScale = scale, GroupSize = group, SubLn = subln, SubLnEps = eps, Calibration = calib, WeightQuant = wq, RequantEvery = every, StatsDecay = decay };
    }

    /// <summary>This object as the JSON stored in config.json.</summary>
    public JsonObject ToJson()
    {
        var o = new JsonObject
        {
            ["weight_quant"] = WeightQuant.ToString().ToLowerInvariant(),
            ["weight_scale"] = WeightScale switch { WeightScaleMode.PerChannel => "per_channel", WeightScaleMode.PerGroup => "per_group", _ => "per_tensor" },
            ["group_size"] = GroupSize,
            ["activation_quant"] = "absmax_int8_per_token",
            ["subln"] = SubLn.ToString().ToLowerInvariant(),
            ["subln_eps"] = SubLnEps,
            ["calibration"] = Calibration switch { CalibrationKind.Gptq => "gptq", CalibrationKind.Awq => "awq", _ => null },
        };
        if (WeightQuant != WeightQuantizer.Absmean) { o["requant_every"] = RequantEvery; o["stats_decay"] = StatsDecay; }
        return o;
    }
}
