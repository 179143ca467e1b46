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

    /// <summary>The BitNet settings of a model config, or null for a full-precision model.</summary>
    public static BitNetConfig? From(IModelConfig config) =>
        config.Get(Field) is JsonNode node ? Parse(node, config.Source, Field) : null;

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
