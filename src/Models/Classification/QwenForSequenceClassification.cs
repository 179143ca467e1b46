using System.Globalization;
using System.Text.Json.Nodes;
using BitDistill.Autograd;
using BitDistill.Models.Layers;
using BitDistill.Models.Qwen;
using BitDistill.Tensors;
using BitDistill.Tensors.SafeTensors;

namespace BitDistill.Models.Classification;

/// <summary>A Qwen decoder with a score head on the last real token, as Hugging Face's Qwen3ForSequenceClassification /
/// Qwen2ForSequenceClassification: children "model" (the decoder stack) and "score" (Linear hidden → num_labels, no bias,
/// tensor score.weight), pooled at each row's last non-padding position (<see cref="LastTokenPooling"/>). The config carries
/// num_labels, id2label and label2id as Hugging Face writes them. It is a <see cref="CausalLanguageModel"/> whose head is the
/// score head (Hugging Face applies score to every position, then pools), so training, distillation, the BitNet transformation
/// (which keeps "score" full precision, as lm_head) and checkpoint I/O are the causal LM's; <see cref="ModelRegistry"/>
/// builds it for a config whose architectures name a *ForSequenceClassification.</summary>
public sealed class QwenForSequenceClassification : CausalLanguageModel, ISequenceClassifier
{
    /// <summary>A fresh model for <paramref name="config"/> with <paramref name="labels"/> (class names; id i ↔ labels[i]); weights
    /// from <paramref name="gen"/> (N(0, initializer_range)) or zeros.</summary>
    public QwenForSequenceClassification(QwenConfig config, IReadOnlyList<string> labels, Generator? gen = null)
        : this(config, new QwenTransformer(config, gen), labels, gen) { }

    /// <summary>A score head on an existing causal LM's decoder stack (shared, not copied): the usual start of fine-tuning.
    /// The head is drawn from <paramref name="gen"/> (N(0, initializer_range)), or zeros. <paramref name="padTokenId"/>, when
    /// the config has no pad_token_id, is written into it: Hugging Face's classifier finds a row's last token as the last one
    /// that is not padding, and refuses batches without a pad id.</summary>
    public QwenForSequenceClassification(QwenModel languageModel, IReadOnlyList<string> labels, Generator? gen = null, int? padTokenId = null)
        : this(padTokenId is { } pad && languageModel.Config.PadTokenId is null ? languageModel.Config.With("pad_token_id", pad) : languageModel.Config,
            languageModel.Model, labels, gen) { }

    private QwenForSequenceClassification(QwenConfig config, QwenTransformer backbone, IReadOnlyList<string> labels, Generator? gen)
    {
        if (labels.Count < 1) throw new ArgumentException("a sequence classifier needs at least one label", nameof(labels));
        if (labels.Distinct().Count() != labels.Count) throw new ArgumentException($"label names must be distinct: [{string.Join(", ", labels)}]", nameof(labels));
        Labels = labels.ToArray();
        Config = WithLabels(config, Labels);
        Model = Child("model", backbone);
        Score = Child("score", new Linear(config.HiddenSize, labels.Count, bias: false, gen, (float)config.InitializerRange));
    }

    /// <summary>The configuration, with num_labels, id2label and label2id.</summary>
    public override QwenConfig Config { get; }
    /// <summary>The decoder stack (final normed hidden states).</summary>
    public QwenTransformer Model { get; }
    /// <summary>The score head [num_labels, hidden], no bias.</summary>
    public Linear Score { get; private set; }
    /// <summary>Class names (id2label in id order).</summary>
    public IReadOnlyList<string> Labels { get; }
    /// <summary>Number of classes.</summary>
    public int NumLabels => Labels.Count;

    /// <summary>Default class names when a config names none: LABEL_0, LABEL_1, … (Hugging Face's).</summary>
    public static string[] DefaultLabels(int numLabels) => Enumerable.Range(0, numLabels).Select(i => $"LABEL_{i.ToString(CultureInfo.InvariantCulture)}").ToArray();

    /// <inheritdoc/>
    public override Variable OutputWeight => Score.Weight;
    /// <inheritdoc/>
    public override bool HeadIsPlainLinear => Score.GetType() == typeof(Linear) && Score.Bias is null;
    /// <summary>"score": the head the BitNet transformation keeps full precision, as it keeps lm_head.</summary>
    public override string? LmHeadName => "score";
    /// <inheritdoc/>
    public override IReadOnlyList<SubLnHook> SubLnHooks => QwenModel.SubLnHooksOf(Model, Config);

    /// <inheritdoc/>
    public override Variable Hidden(Tensor inputIds, Tensor? attentionMask = null, ForwardCapture? capture = null, KvCache? cache = null) =>
        Model.Forward(inputIds, attentionMask, capture, cache);

    /// <summary>Class logits [..., num_labels] from hidden states [..., hidden] (every position, as Hugging Face computes them).</summary>
    public override Variable Head(Variable hidden) => Score.Forward(hidden);

    /// <summary>Class scores [B, num_labels] for ids [B, T] and an optional mask [B, T] (1 = token; padding on either side).</summary>
    public Variable Scores(Tensor inputIds, Tensor? attentionMask = null) =>
        Score.Forward(LastTokenPooling.Pool(Model.Forward(inputIds, attentionMask), attentionMask));

    /// <summary>Mean cross-entropy of <see cref="Scores"/> against class ids (single-label classification).</summary>
    public Variable Loss(Tensor inputIds, Tensor? attentionMask, IReadOnlyList<int> labels)
    {
        var logits = Scores(inputIds, attentionMask);
        if (labels.Count != logits.Size(0)) throw new ArgumentException($"{labels.Count} labels for {logits.Size(0)} rows", nameof(labels));
        return F.CrossEntropy(logits, LastTokenPooling.Targets(labels.Select(l => (long)l).ToArray(), NumLabels, logits.Value.Device));
    }

    /// <summary>The predicted class of each row (no gradients).</summary>
    public int[] Predict(Tensor inputIds, Tensor? attentionMask = null)
    {
        using var _ = GradMode.NoGrad();
        return LastTokenPooling.ArgMaxRows(Scores(inputIds, attentionMask).Value);
    }

    /// <inheritdoc/>
    protected override void OnChildReplaced(string name, Module module)
    {
        if (name == "score") Score = module as Linear ?? throw new ArgumentException("score must be a Linear");
        else base.OnChildReplaced(name, module);
    }

    /// <summary>The labels a config names: id2label (keys "0".."n−1"), else num_labels defaults, else null.</summary>
    public static string[]? LabelsOf(QwenConfig config)
    {
        if (config.Get("id2label") is JsonObject map)
        {
            var labels = new string[map.Count];
            foreach (var (k, v) in map)
            {
                if (!int.TryParse(k, NumberStyles.None, CultureInfo.InvariantCulture, out int id) || id >= labels.Length)
                    throw new ModelConfigException(config.Source, "id2label", $"key \"{k}\" is not an id in 0..{labels.Length - 1}");
                labels[id] = v is JsonValue jv && jv.TryGetValue<string>(out var s) ? s
                    : throw new ModelConfigException(config.Source, "id2label", $"the label of id {k} must be a string");
            }
            if (config.Has("num_labels") && config.GetInt("num_labels", 0) != labels.Length)
                throw new ModelConfigException(config.Source, "num_labels", $"{config.GetInt("num_labels", 0)} disagrees with the {labels.Length} entries of id2label");
            return labels;
        }
        if (config.Has("num_labels"))
        {
            int n = config.GetInt("num_labels", 0);
            return n > 0 ? DefaultLabels(n) : throw new ModelConfigException(config.Source, "num_labels", $"must be positive, got {n}");
        }
        return null;
    }

    private static QwenConfig WithLabels(QwenConfig config, IReadOnlyList<string> labels)
    {
        var id2label = new JsonObject();
        var label2id = new JsonObject();
        for (int i = 0; i < labels.Count; i++)
        {
            id2label[i.ToString(CultureInfo.InvariantCulture)] = labels[i];
            label2id[labels[i]] = i;
        }
        var arch = config.Architecture == QwenArchitecture.Qwen3 ? "Qwen3ForSequenceClassification" : "Qwen2ForSequenceClassification";
        return config.With("architectures", new JsonArray(arch)).With("num_labels", labels.Count).With("id2label", id2label).With("label2id", label2id);
    }

    /// <summary>Loads a Hugging Face sequence-classification folder (config.json with id2label/num_labels, model.* and score.weight).
    /// From a causal-LM folder (no score.weight), pass <paramref name="labels"/> and the head is drawn from <paramref name="gen"/>
    /// (N(0, initializer_range)), as Hugging Face initialises a new head; lm_head.weight is ignored. A missing or mis-shaped tensor
    /// is a <see cref="CheckpointException"/> naming it and the file.</summary>
    public static QwenForSequenceClassification FromPretrained(string folder, IReadOnlyList<string>? labels = null, Generator? gen = null, Device? device = null)
    {
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"model folder '{folder}' does not exist");
        var config = QwenConfig.Load(Path.Combine(folder, "config.json"));
        using var st = ShardedSafeTensors.OpenFolder(folder);
        bool hasHead = st.Contains("score.weight");
        var names = labels?.ToArray() ?? LabelsOf(config)
            ?? throw new ModelConfigException(config.Source, "id2label", "is missing (and num_labels too): pass the labels to FromPretrained");
        if (!hasHead && labels is null)
            throw new CheckpointException(st.Source, "score.weight", "missing: the folder holds no classification head; pass the labels to start a new one");
        // a saved classifier (ternary ones included: the registry applies the config's "bitnet" field) loads as any model does
        if (hasHead && labels is null && ModelRegistry.IsSequenceClassifier(config))
            return ModelRegistry.FromPretrained(folder, device) as QwenForSequenceClassification
                ?? throw new ModelConfigException(config.Source, "architectures", "does not load as a Qwen sequence classifier");
        var m = new QwenForSequenceClassification(config, names, gen);
        device ??= Device.Default;
        var shapes = m.NamedParameters().ToDictionary(x => x.Name, x => x.Param.Value.ShapeArray); // expected: the model's own
        foreach (var (name, p) in m.NamedParameters())
        {
            if (name == "score.weight" && !hasHead) continue;
            if (!st.Contains(name)) throw new CheckpointException(st.Source, name, "missing");
            var t = st.Load(name, DType.Float32, device);
            if (!t.Shape.SequenceEqual(shapes[name]))
                throw new CheckpointException(st.FileOf(name).Path, name, $"has shape {Tensor.ShapeString(t.Shape)}, expected {Tensor.ShapeString(shapes[name])}"
                    + (name == "score.weight" ? $" (num_labels {names.Length} × hidden_size {config.HiddenSize})" : ""));
            p.Value = t;
        }
        return m;
    }
}
