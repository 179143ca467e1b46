using System.Globalization;
using BitDistill.Tensors;
using BitDistill.Tensors.SafeTensors;

namespace BitDistill.Runtime;

// The inference-only twin of Models' QwenModel (src/Models/Qwen/QwenModel.cs), as candle's quantized_qwen3.rs mirrors qwen3.rs:
// the same computation with the checkpoint's tensor names, but on preallocated buffers through Tensors' InferenceOps, with no
// autograd graph. Tests hold the two equal (tests/BitDistill.Tests/Runtime/RuntimeParityTests.cs); a change to one is a change
// to both.
//   model.embed_tokens.weight                           [vocab, hidden]
//   model.layers.{i}.input_layernorm.weight             [hidden]
//   model.layers.{i}.self_attn.{q,k,v}_proj.{weight,bias?}   (bias: Qwen2 always, Qwen3 iff attention_bias)
//   model.layers.{i}.self_attn.o_proj.{weight,bias?}    (bias: Qwen3 with attention_bias only)
//   model.layers.{i}.self_attn.{q,k}_norm.weight        [head_dim] (Qwen3)
//   model.layers.{i}.post_attention_layernorm.weight    [hidden]
//   model.layers.{i}.mlp.{gate,up,down}_proj.weight
//   model.norm.weight                                   [hidden]
//   lm_head.weight                                      [vocab, hidden] (absent when tie_word_embeddings)

/// <summary>A full-precision Qwen3 / Qwen2 / Qwen2.5 causal LM for inference: weights as float32 tensors loaded once, and a forward
/// that writes into a <see cref="QwenInferenceSession"/>'s preallocated activations and KV cache.</summary>
public sealed class QwenRuntimeModel
{
    private QwenRuntimeModel(QwenRuntimeConfig config, Tensor embed, Layer[] layers, Tensor norm, Tensor? lmHead)
    {
        Config = config; EmbedTokens = embed; Layers = layers; Norm = norm; LmHead = lmHead;
    }

    /// <summary>The configuration the model was built from.</summary>
    public QwenRuntimeConfig Config { get; }

    internal Tensor EmbedTokens { get; }
    internal Layer[] Layers { get; }
    internal Tensor Norm { get; }
    internal Tensor? LmHead { get; }
    /// <summary>The matrix that maps final hidden states to logits: lm_head, or the embeddings when tied.</summary>
    internal Tensor OutputWeight => LmHead ?? EmbedTokens;

    internal sealed record Layer(Tensor InputNorm, Tensor Wq, Tensor? Bq, Tensor Wk, Tensor? Bk, Tensor Wv, Tensor? Bv, Tensor Wo, Tensor? Bo,
        Tensor? QNorm, Tensor? KNorm, Tensor PostNorm, Tensor Gate, Tensor Up, Tensor Down);

    /// <summary>Loads config.json and the safetensors weights (model.safetensors, or shards with model.safetensors.index.json) of a
    /// Hugging Face folder; F32/F16/BF16 become float32. A bad or unsupported config (including a ternary "bitnet" model), or a
    /// missing, unexpected, mis-shaped or non-float tensor, is a <see cref="RuntimeModelException"/> naming the file and the field
    /// or tensor.</summary>
    public static QwenRuntimeModel Load(string folder)
    {
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"model folder '{folder}' does not exist");
        var config = QwenRuntimeConfig.Load(Path.Combine(folder, "config.json"));
        using var st = ShardedSafeTensors.OpenFolder(folder);
        var expected = ExpectedShapes(config);
        foreach (var n in st.Names)
        {
            if (expected.ContainsKey(n)) continue;
            if ((n == "lm_head.weight" && config.TieWordEmbeddings) || n.EndsWith("rotary_emb.inv_freq", StringComparison.Ordinal)) continue;
            throw new RuntimeModelException(st.FileOf(n).Path, "tensor", n, $"unexpected tensor: a {config.ModelType} model with {config.Source} has no such weight"
                + (n == "lm_head.weight" ? " (tie_word_embeddings is true)" : ""));
        }
        foreach (var (name, want) in expected)
        {
            if (!st.Contains(name))
                throw new RuntimeModelException(st.Source, "tensor", name, $"missing (expected shape {Tensor.ShapeString(want)} from {config.Source}"
                    + (name == "lm_head.weight" ? "; tie_word_embeddings is false" : "") + ")");
            var entry = st.Entry(name);
            if (entry.DType is not (DType.Float32 or DType.Float16 or DType.BFloat16))
                throw new RuntimeModelException(st.FileOf(name).Path, "tensor", name, $"has dtype {SafeTensorsDTypes.ToName(entry.DType)}; expected F32, F16 or BF16");
            var shape = entry.TensorShape();
            if (!shape.AsSpan().SequenceEqual(want))
                throw new RuntimeModelException(st.FileOf(name).Path, "tensor", name, $"has shape {Tensor.ShapeString(shape)} but {config.Source} implies {Tensor.ShapeString(want)}");
        }

        // long-lived: weights must not come from (or go back to) the pool of a caller's TensorScope
        using var _ = TensorScope.Suspend();
        Tensor W(string name) => st.Load(name, DType.Float32, Device.Cpu).Contiguous();
        Tensor? Optional(string name, bool present) => present ? W(name) : null;
        var layers = new Layer[config.NumHiddenLayers];
        for (int i = 0; i < layers.Length; i++)
        {
            string p = Prefix(i);
            layers[i] = new Layer(
                W(p + "input_layernorm.weight"),
                W(p + "self_attn.q_proj.weight"), Optional(p + "self_attn.q_proj.bias", config.QkvBias),
                W(p + "self_attn.k_proj.weight"), Optional(p + "self_attn.k_proj.bias", config.QkvBias),
                W(p + "self_attn.v_proj.weight"), Optional(p + "self_attn.v_proj.bias", config.QkvBias),
                W(p + "self_attn.o_proj.weight"), Optional(p + "self_attn.o_proj.bias", config.OutputProjectionBias),
                Optional(p + "self_attn.q_norm.weight", config.QkNorm), Optional(p + "self_attn.k_norm.weight", config.QkNorm),
                W(p + "post_attention_layernorm.weight"),
                W(p + "mlp.gate_proj.weight"), W(p + "mlp.up_proj.weight"), W(p + "mlp.down_proj.weight"));
        }
        return new QwenRuntimeModel(config, W("model.embed_tokens.weight"), layers, W("model.norm.weight"),
            config.TieWordEmbeddings ? null : W("lm_head.weight"));
    }

    /// <summary>A session (KV cache and activations, all allocated now) for sequences of up to <paramref name="maxSequenceLength"/>
    /// positions (default: max_position_embeddings, capped at 4096); prompts are processed <paramref name="prefillChunk"/> tokens
    /// at a time.</summary>
    public QwenInferenceSession CreateSession(int? maxSequenceLength = null, int prefillChunk = QwenInferenceSession.DefaultPrefillChunk) =>
        new(this, maxSequenceLength ?? Math.Min(Config.MaxPositionEmbeddings, 4096), prefillChunk);

    private static string Prefix(int layer) => $"model.layers.{layer.ToString(CultureInfo.InvariantCulture)}.";

    /// <summary>Every weight the config implies, with its shape (lm_head only when untied).</summary>
    private static Dictionary<string, int[]> ExpectedShapes(QwenRuntimeConfig c)
    {
        int e = c.HiddenSize, q = c.NumAttentionHeads * c.HeadDim, kv = c.NumKeyValueHeads * c.HeadDim, inter = c.IntermediateSize;
        var r = new Dictionary<string, int[]>(StringComparer.Ordinal) { ["model.embed_tokens.weight"] = [c.VocabSize, e], ["model.norm.weight"] = [e] };
        if (!c.TieWordEmbeddings) r["lm_head.weight"] = [c.VocabSize, e];
        for (int i = 0; i < c.NumHiddenLayers; i++)
        {
            string p = Prefix(i);
            r[p + "input_layernorm.weight"] = [e];
            r[p + "post_attention_layernorm.weight"] = [e];
            void Proj(string name, int outF, int inF, bool bias)
            {
                r[p + name + ".weight"] = [outF, inF];
                if (bias) r[p + name + ".bias"] = [outF];
            }
            Proj("self_attn.q_proj", q, e, c.QkvBias);
            Proj("self_attn.k_proj", kv, e, c.QkvBias);
            Proj("self_attn.v_proj", kv, e, c.QkvBias);
            Proj("self_attn.o_proj", e, q, c.OutputProjectionBias);
            if (c.QkNorm) { r[p + "self_attn.q_norm.weight"] = [c.HeadDim]; r[p + "self_attn.k_norm.weight"] = [c.HeadDim]; }
            Proj("mlp.gate_proj", inter, e, false);
            Proj("mlp.up_proj", inter, e, false);
            Proj("mlp.down_proj", e, inter, false);
        }
        return r;
    }
}
