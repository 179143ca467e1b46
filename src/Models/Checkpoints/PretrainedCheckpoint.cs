using BitDistill.Tensors;
using BitDistill.Tensors.SafeTensors;

namespace BitDistill.Models.Checkpoints;

/// <summary>Hugging Face checkpoint I/O shared by every architecture: the weights of a model folder checked against the
/// model's own parameters (names and shapes come from the built model, not from a hand-kept list), loaded, and saved.</summary>
public static class PretrainedCheckpoint
{
    /// <summary>Reads the weights of <paramref name="folder"/> into <paramref name="model"/> (F32/F16/BF16 → float32 on
    /// <paramref name="device"/>) after checking every header; a missing, unexpected, mis-shaped or non-float tensor is a
    /// <see cref="CheckpointException"/> naming it and its file.</summary>
    public static void Load(CausalLanguageModel model, string folder, Device device)
    {
        using var st = ShardedSafeTensors.OpenFolder(folder);
        var expected = model.NamedParameters().Select(p => (p.Name, p.Param.Value.ShapeArray))
            .Concat(model.NamedBuffers().Select(b => (b.Name, b.Value.ShapeArray))).ToArray();
        Check(model.Config, expected, st);
        foreach (var (name, p) in model.NamedParameters()) p.Value = st.Load(name, DType.Float32, device);
        var buffers = model.NamedBuffers().Select(b => b.Name).ToDictionary(n => n, n => st.Load(n, DType.Float32, device));
        if (buffers.Count > 0) model.LoadStateDict(buffers, strict: false, source: st.Source);
    }

    /// <summary>Checks a checkpoint's headers against the expected names and shapes without reading any weights: every one
    /// present with its shape and a float dtype, and nothing else (a tied lm_head.weight and rotary inv_freq buffers are
    /// tolerated, as in Hugging Face). Throws a <see cref="CheckpointException"/> naming the first offending tensor and its file.</summary>
    public static void Check(IModelConfig config, IReadOnlyList<(string Name, int[] Shape)> expected, ShardedSafeTensors st)
    {
        var names = expected.Select(x => x.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var n in st.Names)
        {
            if (names.Contains(n)) continue;
            if (((n == "lm_head.weight" || n == "language_model.lm_head.weight") && config.TieWordEmbeddings) || n.EndsWith("rotary_emb.inv_freq", StringComparison.Ordinal)) continue;
            // a Gemma 3 multimodal checkpoint's vision tower: only its language model is loaded
            if (config.ModelType == "gemma3" && (n.StartsWith("vision_tower.", StringComparison.Ordinal) || n.StartsWith("multi_modal_projector.", StringComparison.Ordinal))) continue;
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
    /// <paramref name="dtype"/> (Float32, BFloat16 or Float16) as model.safetensors, or shards of at most
    /// <paramref name="maxShardBytes"/> with an index; a tied lm_head is not written. Each file is written to a temporary
    /// name and renamed.</summary>
    public static void Save(CausalLanguageModel model, string folder, DType dtype, long maxShardBytes)
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
        var tensors = model.NamedParameters().Select(x => KeyValuePair.Create(x.Name, x.Param.Value.DType == dtype ? x.Param.Value : x.Param.Value.To(dtype)))
            .Concat(model.NamedBuffers().Select(b => KeyValuePair.Create(b.Name, b.Value)));
        ShardedSafeTensorsWriter.Write(folder, tensors, maxShardBytes, new Dictionary<string, string> { ["format"] = "pt" });
        var config = model.Config.Has("dtype") && !model.Config.Has("torch_dtype") ? model.Config.WithField("dtype", dtypeName) : model.Config.WithField("torch_dtype", dtypeName);
        config.Save(Path.Combine(folder, "config.json"));
        // as save_pretrained: only a model that generates text gets a generation_config.json (not a score-head classifier)
        if (!ModelRegistry.IsSequenceClassifier(config)) Generation.GenerationConfig.FromModelConfig(config).Save(folder);
    }
}
