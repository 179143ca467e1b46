using System.Text.Json;
using System.Text.Json.Nodes;
using BitDistill.Models.BitNet;
using BitDistill.Models.Classification;
using BitDistill.Models.Gemma3;
using BitDistill.Models.Qwen;
using BitDistill.Tensors;

namespace BitDistill.Models;

/// <summary>Maps a Hugging Face config's model_type to an architecture family: how to read its config.json and how to build
/// the model. A new family registers here (one line) and lives in its own folder, Models/&lt;Family&gt;/.</summary>
public static class ModelRegistry
{
    /// <summary>One architecture family: its config reader, its constructor (weights from the generator, or zeros; a config
    /// whose architectures name a *ForSequenceClassification builds the score-head model) and, optionally, how a score head
    /// goes on one of its causal LMs (sharing the decoder stack; the head from the generator, or zeros).</summary>
    public sealed record Family(string Name, Func<JsonObject, string, IModelConfig> ParseConfig, Func<IModelConfig, Generator?, CausalLanguageModel> Create,
        Func<CausalLanguageModel, IReadOnlyList<string>, Generator?, int?, CausalLanguageModel>? AttachScoreHead = null);

    private static readonly Dictionary<string, Family> Families = new(StringComparer.Ordinal);

    static ModelRegistry()
    {
        var qwen = new Family("Qwen", (o, src) => QwenConfig.FromJson(o, src),
            (c, g) => IsSequenceClassifier(c)
                ? new QwenForSequenceClassification((QwenConfig)c, QwenForSequenceClassification.LabelsOf((QwenConfig)c)
                    ?? throw new ModelConfigException(c.Source, "id2label", "a sequence classifier needs id2label or num_labels"), g)
                : new QwenModel((QwenConfig)c, g),
            (m, labels, g, pad) => new QwenForSequenceClassification(m as QwenModel ?? throw new ArgumentException($"a score head goes on a causal LM, not on a {m.GetType().Name}"), labels, g, pad));
        Register("qwen3", qwen);
        Register("qwen2", qwen);
        var gemma = new Family("Gemma3", (o, src) => Gemma3Config.FromJson(o, src),
            (c, g) => IsSequenceClassifier(c)
                ? throw new ModelConfigException(c.Source, "architectures", "a Gemma 3 sequence classifier (score head) is not implemented; use a causal LM (Gemma3ForCausalLM)")
                : new Gemma3Model((Gemma3Config)c, g));
        Register("gemma3_text", gemma);
        Register("gemma3", gemma);
    }

    /// <summary>Adds (or replaces) the family of a model_type.</summary>
    public static void Register(string modelType, Family family) { lock (Families) Families[modelType] = family; }

    /// <summary>The model_types that can be loaded.</summary>
    public static IReadOnlyCollection<string> ModelTypes { get { lock (Families) return Families.Keys.Order(StringComparer.Ordinal).ToArray(); } }

    /// <summary>Reads a config.json and dispatches on its model_type; errors name the file and field.</summary>
    public static IModelConfig LoadConfig(string path)
    {
        if (!File.Exists(path)) throw new ModelConfigException(path, null, "file not found");
        JsonNode? node;
        try { node = JsonNode.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new ModelConfigException(path, null, $"not valid JSON: {e.Message}", e); }
        if (node is not JsonObject o) throw new ModelConfigException(path, null, "expected a JSON object");
        return ParseConfig(o, path);
    }

    /// <summary>Parses a config object by its model_type.</summary>
    public static IModelConfig ParseConfig(JsonObject o, string source)
    {
        string? type;
        try { type = o["model_type"]?.GetValue<string>(); }
        catch (Exception e) when (e is InvalidOperationException or FormatException) { throw new ModelConfigException(source, "model_type", "expected a string", e); }
        if (type is null) throw new ModelConfigException(source, "model_type", "missing");
        Family? f;
        lock (Families) Families.TryGetValue(type, out f);
        if (f is null) throw new ModelConfigException(source, "model_type", $"'{type}' is not supported (supported: {string.Join(", ", ModelTypes)})");
        var config = f.ParseConfig(o, source);
        BitNetConfig.From(config); // the "bitnet" object and any quantization_config, checked on every load
        return config;
    }

    /// <summary>A model of <paramref name="config"/>'s architecture; when the config has a "bitnet" field the BitNet
    /// transformation is applied (BitLinear projections, SubLN), so the structure matches a saved ternary model.</summary>
    public static CausalLanguageModel Create(IModelConfig config, Generator? gen = null)
    {
        Family? f;
        lock (Families) Families.TryGetValue(config.ModelType, out f);
        if (f is null) throw new ModelConfigException(config.Source, "model_type", $"'{config.ModelType}' is not supported (supported: {string.Join(", ", ModelTypes)})");
        if (Device.Default.Kind != DeviceKind.Meta)
        {
            // float32 weights (plus optimizer state later): refuse before allocating what the machine cannot hold
            long need = config.ParameterCount * 4, have = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
            if (need > have)
                throw new ModelConfigException(config.Source, null, $"the model has {config.ParameterCount:N0} parameters: {need / 1e9:F1} GB as float32, but {have / 1e9:F1} GB of memory is available");
        }
        var model = f.Create(config, gen);
        if (BitNetConfig.From(config) is { } bitnet) BitNetTransform.Apply(model, bitnet);
        return model;
    }

    /// <summary>Whether a config describes a sequence classifier (a score head instead of an LM head): its architectures name a
    /// *ForSequenceClassification, as Hugging Face writes them.</summary>
    public static bool IsSequenceClassifier(IModelConfig config) =>
        config.Get("architectures") is JsonArray a && a.Any(n => n is JsonValue v && v.TryGetValue<string>(out var s) && s.EndsWith("ForSequenceClassification", StringComparison.Ordinal));

    /// <summary>A sequence classifier on <paramref name="model"/>'s decoder stack (shared, not copied) with a score head for
    /// <paramref name="labels"/> drawn from <paramref name="gen"/> (N(0, initializer_range), as Hugging Face starts a new
    /// head) or zeros; the config gains architectures *ForSequenceClassification, num_labels, id2label and label2id, and keeps
    /// its "bitnet" field, so the saved model reloads with the same structure; <paramref name="padTokenId"/> becomes its
    /// pad_token_id when it has none (Hugging Face pools at the last token that is not padding).</summary>
    public static CausalLanguageModel WithScoreHead(CausalLanguageModel model, IReadOnlyList<string> labels, Generator? gen = null, int? padTokenId = null)
    {
        if (model is ISequenceClassifier) throw new ArgumentException("the model already has a score head");
        Family? f;
        lock (Families) Families.TryGetValue(model.Config.ModelType, out f);
        if (f?.AttachScoreHead is null) throw new ModelConfigException(model.Config.Source, "model_type", $"'{model.Config.ModelType}' has no score-head (sequence classification) model");
        return f.AttachScoreHead(model, labels, gen, padTokenId);
    }

    /// <summary>Every parameter's and buffer's name and shape for <paramref name="config"/>, from the model itself built on
    /// the shape-only <see cref="Device.Meta"/> (nothing is allocated, whatever the size); a tied lm_head is not listed.</summary>
    public static IReadOnlyList<(string Name, int[] Shape)> ParameterShapes(IModelConfig config)
    {
        using var _ = Device.UseDefault(Device.Meta);
        var model = Create(config);
        return model.NamedParameters().Select(p => (p.Name, p.Param.Value.ShapeArray))
            .Concat(model.NamedBuffers().Select(b => (b.Name, b.Value.ShapeArray))).ToArray();
    }

    /// <summary>Loads a Hugging Face model folder (config.json + model.safetensors or shards with an index) of any
    /// registered architecture; weights become float32 on <paramref name="device"/>.</summary>
    public static CausalLanguageModel FromPretrained(string folder, Device? device = null)
    {
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"model folder '{folder}' does not exist");
        var config = LoadConfig(Path.Combine(folder, "config.json"));
        // the name of BitDistill.Runtime's PackedExportInfo.Field (Models cannot reference the runtime)
        if (config.Has("bitdistill_export"))
            throw new ModelConfigException(config.Source, "bitdistill_export", "an exported (packed ternary) model for the inference runtime: "
                + "bitdistill generate and classify run it; training and evaluation need the checkpoint it was exported from");
        var model = Create(config);
        Checkpoints.PretrainedCheckpoint.Load(model, folder, device ?? Device.Default);
        return model;
    }
}
