using System.Globalization;
using BitDistill.Autograd;
using BitDistill.Models.Layers;
using BitDistill.Tensors;
using BitDistill.Tensors.SafeTensors;

namespace BitDistill.Models.Qwen;

// Qwen3 and Qwen2/Qwen2.5 causal LMs with the tensor names of the Hugging Face checkpoints (modeling_qwen3.py, modeling_qwen2.py):
//   model.embed_tokens.weight
//   model.layers.{i}.input_layernorm.weight
//   model.layers.{i}.self_attn.{q,k,v}_proj.{weight,bias?}   (bias: Qwen2 always, Qwen3 iff attention_bias)
//   model.layers.{i}.self_attn.o_proj.{weight,bias?}          (bias: Qwen3 with attention_bias only)
//   model.layers.{i}.self_attn.{q,k}_norm.weight              (Qwen3: RMSNorm over head_dim on every head, before RoPE)
//   model.layers.{i}.post_attention_layernorm.weight
//   model.layers.{i}.mlp.{gate,up,down}_proj.weight
//   model.norm.weight
//   lm_head.weight                                            (absent when tie_word_embeddings: embed_tokens' weight is used)
// Every projection is a child module called through ILayer, so model surgery (Module.ReplaceChild) can swap Linear for BitLinear
// or wrap it with a SubLN norm without touching this file.

/// <summary>A Qwen3 / Qwen2 / Qwen2.5 causal language model (Hugging Face's Qwen3ForCausalLM / Qwen2ForCausalLM): a
/// <see cref="QwenTransformer"/> named "model" and lm_head (absent when the embeddings are tied). Loads and saves the Hugging Face
/// folder layout with the checkpoint's tensor names.</summary>
public sealed class QwenModel : Module
{
    /// <summary>The largest shard <see cref="SavePretrained"/> writes by default (5 GB, as save_pretrained).</summary>
    public const long DefaultMaxShardBytes = 5_000_000_000;

    /// <summary>A model for <paramref name="config"/>. With <paramref name="gen"/>, Linear and Embedding weights are drawn from
    /// N(0, initializer_range²), biases are zero and norms one (Hugging Face's _init_weights); without it every weight is zero
    /// (to be loaded).</summary>
    public QwenModel(QwenConfig config, Generator? gen = null)
    {
        Config = config;
        Model = Child("model", new QwenTransformer(config, gen));
        if (!config.TieWordEmbeddings)
            LmHead = Child("lm_head", new Linear(config.HiddenSize, config.VocabSize, false, gen, (float)config.InitializerRange));
    }

    /// <summary>The configuration (written back by <see cref="SavePretrained"/>).</summary>
    public QwenConfig Config { get; }
    /// <summary>The decoder stack.</summary>
    public QwenTransformer Model { get; }
    /// <summary>The output projection [vocab, hidden]; null when tied to the embeddings.</summary>
    public Linear? LmHead { get; private set; }
    /// <summary>The weight that maps hidden states to logits (lm_head's, or embed_tokens' when tied).</summary>
    public Variable OutputWeight => LmHead?.Weight ?? Model.EmbedTokens.Weight;

    /// <summary>Logits [B, T, vocab] for ids [B, T]; see <see cref="QwenTransformer.Forward"/> for the mask and positions.</summary>
    public Variable Forward(Tensor inputIds, Tensor? attentionMask = null, QwenCapture? capture = null, KvCache? cache = null)
    {
        var h = Model.Forward(inputIds, attentionMask, capture, cache);
        return Head(h);
    }

    /// <summary>Logits [..., vocab] from final normed hidden states [..., hidden] (lm_head, or the tied embeddings).</summary>
    public Variable Head(Variable hidden) => LmHead is not null ? LmHead.Forward(hidden) : F.Linear(hidden, Model.EmbedTokens.Weight);

    /// <summary>Mean next-token cross-entropy: logits at t predict labels at t+1; labels of −100 are ignored. Without
    /// <paramref name="labels"/>, the ids are the labels with padding (mask 0) ignored.</summary>
    public Variable Loss(Tensor inputIds, Tensor? attentionMask = null, Tensor? labels = null, QwenCapture? capture = null)
    {
        var h = Model.Forward(inputIds, attentionMask, capture);
        var l = labels ?? LabelsFromIds(inputIds, attentionMask);
        int b = h.Size(0), t = h.Size(1);
        if (!FusedHead) return CausalLmLoss(Head(h), l);
        if (l.Rank != 2 || l.Shape[0] != b || l.Shape[1] != t) throw new ArgumentException($"labels must be [{b}, {t}], got {Tensor.ShapeString(l.Shape)}");
        if (t < 2) throw new ArgumentException("the causal LM loss needs at least two positions");
        return F.LinearCrossEntropy(h.Reshape(b * t, h.Size(2)), OutputWeight, Tensor.FromArray(ShiftedTargets(l), [b * t], h.Value.Device), ignoreIndex: -100);
    }

    /// <summary>Mean cross-entropy of the logits at every position of ids [B, T] against targets [B, T] (−100 ignored; no shift:
    /// target t is the label of position t), the same as CrossEntropy(Forward(ids).Reshape(−1, V), targets.Reshape(−1)) but
    /// through the fused lm_head + cross-entropy (the [B·T, V] logits are never materialised) when the head is a plain
    /// bias-free Linear or the tied embeddings.</summary>
    public Variable TokenLoss(Tensor inputIds, Tensor targets, Tensor? attentionMask = null)
    {
        var h = Model.Forward(inputIds, attentionMask);
        if (!FusedHead) return F.CrossEntropy(Head(h).Reshape(-1, Config.VocabSize), targets.Reshape(-1));
        return F.LinearCrossEntropy(h.Reshape(-1, h.Size(-1)), OutputWeight, targets.Reshape(-1));
    }

    // The fused loss computes x·Wᵀ itself, so it applies only when the head is exactly that (a subclass may quantise or adapt W).
    private bool FusedHead => LmHead is null || (LmHead.GetType() == typeof(Linear) && LmHead.Bias is null);

    /// <summary>Mean cross-entropy of logits [B, T, V] at t against labels [B, T] at t+1 (−100 ignored), as Hugging Face's ForCausalLMLoss.</summary>
    public static Variable CausalLmLoss(Variable logits, Tensor labels)
    {
        int b = logits.Size(0), t = logits.Size(1), v = logits.Size(2);
        if (labels.Rank != 2 || labels.Shape[0] != b || labels.Shape[1] != t)
            throw new ArgumentException($"labels must be [{b}, {t}], got {Tensor.ShapeString(labels.Shape)}");
        if (t < 2) throw new ArgumentException("the causal LM loss needs at least two positions");
        var targets = ShiftedTargets(labels);
        return F.CrossEntropy(logits.Reshape(b * t, v), Tensor.FromArray(targets, [targets.Length], logits.Value.Device), ignoreIndex: -100);
    }

    // Row r·t + i of the flattened logits predicts label i + 1; the last position of each row has no label and is ignored.
    // Same loss as slicing logits[:, :-1] (same rows, same order), without copying the [B, T−1, V] slice.
    private static long[] ShiftedTargets(Tensor labels)
    {
        int b = labels.Shape[0], t = labels.Shape[1];
        var l = labels.To(DType.Int64).Contiguous().ToArray<long>();
        var targets = new long[b * t];
        for (int r = 0; r < b; r++)
        {
            Array.Copy(l, r * t + 1, targets, r * t, t - 1);
            targets[r * t + t - 1] = -100;
        }
        return targets;
    }

    /// <summary>ids as Int64 labels with −100 where the mask is 0.</summary>
    public static Tensor LabelsFromIds(Tensor inputIds, Tensor? attentionMask)
    {
        var ids = inputIds.To(DType.Int64).Contiguous().ToArray<long>();
        if (attentionMask is not null)
        {
            if (!attentionMask.Shape.SequenceEqual(inputIds.Shape)) throw new ArgumentException($"attention mask {Tensor.ShapeString(attentionMask.Shape)} does not match ids {Tensor.ShapeString(inputIds.Shape)}");
            var m = attentionMask.To(DType.Float32).Contiguous().ToArray<float>();
            for (int i = 0; i < ids.Length; i++) if (m[i] == 0) ids[i] = -100;
        }
        return Tensor.FromArray(ids, inputIds.ShapeArray);
    }

    /// <summary>Every parameter's name and shape for <paramref name="config"/>, in <see cref="Module.NamedParameters"/> order,
    /// without allocating weights (tied lm_head is not listed).</summary>
    public static IReadOnlyList<(string Name, int[] Shape)> ParameterShapes(QwenConfig config)
    {
        int e = config.HiddenSize, v = config.VocabSize, inter = config.IntermediateSize;
        int q = config.NumAttentionHeads * config.HeadDim, kv = config.NumKeyValueHeads * config.HeadDim, d = config.HeadDim;
        var r = new List<(string, int[])> { ("model.embed_tokens.weight", [v, e]) };
        var bitnet = BitNet.BitNetConfig.From(config);
        bool paperNorms = bitnet?.SubLn == BitNet.SubLnPlacement.Paper, allNorms = bitnet?.SubLn == BitNet.SubLnPlacement.All;
        for (int i = 0; i < config.NumHiddenLayers; i++)
        {
            string p = $"model.layers.{i.ToString(CultureInfo.InvariantCulture)}.";
            r.Add((p + "input_layernorm.weight", [e]));
            // order = registration order of the modules (NamedParameters)
            void Proj(string name, int outF, int inF, bool bias)
            {
                r.Add((p + name + ".weight", [outF, inF]));
                if (bias) r.Add((p + name + ".bias", [outF]));
                if (allNorms) r.Add((p + name + ".sub_norm.weight", [inF]));
                if (bitnet?.Calibration is not null) r.Add((p + name + ".weight_scale", [outF]));
                if (bitnet?.Calibration == "awq") r.Add((p + name + ".input_scale", [inF]));
            }
            Proj("self_attn.q_proj", q, e, config.QkvBias);
            Proj("self_attn.k_proj", kv, e, config.QkvBias);
            Proj("self_attn.v_proj", kv, e, config.QkvBias);
            if (paperNorms) r.Add((p + "self_attn.attn_sub_norm.weight", [q]));
            Proj("self_attn.o_proj", e, q, config.OutputProjectionBias);
            if (config.QkNorm) { r.Add((p + "self_attn.q_norm.weight", [d])); r.Add((p + "self_attn.k_norm.weight", [d])); }
            r.Add((p + "post_attention_layernorm.weight", [e]));
            Proj("mlp.gate_proj", inter, e, false);
            Proj("mlp.up_proj", inter, e, false);
            if (paperNorms) r.Add((p + "mlp.ffn_sub_norm.weight", [inter]));
            Proj("mlp.down_proj", e, inter, false);
        }
        r.Add(("model.norm.weight", [e]));
        if (!config.TieWordEmbeddings) r.Add(("lm_head.weight", [v, e]));
        return r;
    }

    /// <summary>Loads config.json and the safetensors weights (model.safetensors, or shards with model.safetensors.index.json) of a
    /// Hugging Face model folder; F32/F16/BF16 weights become float32 on <paramref name="device"/>. A missing, unexpected, mis-shaped
    /// or non-float tensor is a <see cref="CheckpointException"/> naming it and the file; a bad config a <see cref="ModelConfigException"/>.</summary>
    public static QwenModel FromPretrained(string folder, Device? device = null)
    {
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"model folder '{folder}' does not exist");
        var config = QwenConfig.Load(Path.Combine(folder, "config.json"));
        using var st = ShardedSafeTensors.OpenFolder(folder);
        var model = new QwenModel(config);
        model.LoadWeights(st, device ?? Device.Default);
        return model;
    }

    private void LoadWeights(ShardedSafeTensors st, Device device)
    {
        CheckCheckpoint(Config, st);
        foreach (var (name, p) in NamedParameters()) p.Value = st.Load(name, DType.Float32, device);
        var buffers = NamedBuffers().Select(b => b.Name).ToDictionary(n => n, n => st.Load(n, DType.Float32, device));
        if (buffers.Count > 0) LoadStateDict(buffers, strict: false, source: st.Source);
    }

    /// <summary>Checks a checkpoint's headers against <paramref name="config"/> without reading any weights: every parameter present with
    /// the expected shape and a float dtype, and nothing else (a tied lm_head.weight and rotary inv_freq buffers are tolerated, as in
    /// Hugging Face). Throws a <see cref="CheckpointException"/> naming the first offending tensor and its file.</summary>
    public static void CheckCheckpoint(QwenConfig config, ShardedSafeTensors st)
    {
        var expected = ParameterShapes(config);
        var names = expected.Select(x => x.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var n in st.Names)
        {
            if (names.Contains(n)) continue;
            if ((n == "lm_head.weight" && config.TieWordEmbeddings) || n.EndsWith("rotary_emb.inv_freq", StringComparison.Ordinal)) continue;
            throw new CheckpointException(st.FileOf(n).Path, n, $"unexpected tensor: a {config.ModelType} model with {config.Source} has no such parameter"
                + (n == "lm_head.weight" ? " (tie_word_embeddings is true)" : ""));
        }
        foreach (var (name, want) in expected)
        {
            if (!st.Contains(name))
                throw new CheckpointException(st.Source, name, $"missing (expected shape {Tensor.ShapeString(want)} from {config.Source}"
                    + (name == "lm_head.weight" ? "; tie_word_embeddings is false" : "") + ")");
            var entry = st.Entry(name);
            var file = st.FileOf(name).Path;
            if (entry.DType is not (DType.Float32 or DType.Float16 or DType.BFloat16))
                throw new CheckpointException(file, name, $"has dtype {SafeTensorsDTypes.ToName(entry.DType)}; expected F32, F16 or BF16");
            var shape = entry.TensorShape();
            if (!shape.AsSpan().SequenceEqual(want))
                throw new CheckpointException(file, name, $"has shape {Tensor.ShapeString(shape)} but {config.Source} implies {Tensor.ShapeString(want)} ({ShapeFields(name)})");
        }
    }

    /// <summary>The group a parameter counts in: "embeddings", "attention", "mlp", "norms" or "lm_head".</summary>
    public static string ParameterGroup(string name) => name switch
    {
        "lm_head.weight" => "lm_head",
        _ when name.Contains("embed_tokens", StringComparison.Ordinal) => "embeddings",
        _ when name.EndsWith("norm.weight", StringComparison.Ordinal) => "norms",
        _ when name.Contains(".self_attn.", StringComparison.Ordinal) => "attention",
        _ when name.Contains(".mlp.", StringComparison.Ordinal) => "mlp",
        _ => "other",
    };

    private static string ShapeFields(string name) => name switch
    {
        _ when name.EndsWith("embed_tokens.weight", StringComparison.Ordinal) || name == "lm_head.weight" => "vocab_size × hidden_size",
        _ when name.Contains(".q_proj.", StringComparison.Ordinal) => "num_attention_heads·head_dim, hidden_size",
        _ when name.Contains(".k_proj.", StringComparison.Ordinal) || name.Contains(".v_proj.", StringComparison.Ordinal) => "num_key_value_heads·head_dim, hidden_size",
        _ when name.Contains(".o_proj.", StringComparison.Ordinal) => "hidden_size, num_attention_heads·head_dim",
        _ when name.Contains("_norm.", StringComparison.Ordinal) && name.Contains("self_attn", StringComparison.Ordinal) => "head_dim",
        _ when name.Contains(".mlp.", StringComparison.Ordinal) => "intermediate_size, hidden_size",
        _ => "hidden_size",
    };

    /// <summary>Writes config.json (every original field kept, torch_dtype set to the saved dtype) and the weights in
    /// <paramref name="dtype"/> (Float32, BFloat16 or Float16) as model.safetensors, or shards of at most <paramref name="maxShardBytes"/>
    /// with an index; a tied lm_head is not written. Each file is written to a temporary name and renamed.</summary>
    public void SavePretrained(string folder, DType dtype = DType.Float32, long maxShardBytes = DefaultMaxShardBytes)
    {
        string dtypeName = dtype switch
        {
            DType.Float32 => "float32",
            DType.BFloat16 => "bfloat16",
            DType.Float16 => "float16",
            _ => throw new ArgumentException($"weights can be saved as Float32, BFloat16 or Float16, not {dtype}", nameof(dtype)),
        };
        Directory.CreateDirectory(folder);
        // buffers (calibrated scales) stay float32 whatever the weight dtype: rounding them would change the model
        var tensors = NamedParameters().Select(x => KeyValuePair.Create(x.Name, x.Param.Value.DType == dtype ? x.Param.Value : x.Param.Value.To(dtype)))
            .Concat(NamedBuffers().Select(b => KeyValuePair.Create(b.Name, b.Value)));
        ShardedSafeTensorsWriter.Write(folder, tensors, maxShardBytes, new Dictionary<string, string> { ["format"] = "pt" });
        var config = Config.Has("dtype") && !Config.Has("torch_dtype") ? Config.With("dtype", dtypeName) : Config.With("torch_dtype", dtypeName);
        config.Save(Path.Combine(folder, "config.json"));
    }
}
