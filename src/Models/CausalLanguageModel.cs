using BitDistill.Autograd;
using BitDistill.Models.Layers;
using BitDistill.Tensors;

namespace BitDistill.Models;

/// <summary>The causal-LM contract every architecture family implements (Qwen/, then Gemma3/): forward with optional capture of
/// hidden states and Q/K/V, the LM head, a KV cache, the hook points of the BitNet transformation, and Hugging Face
/// checkpoint I/O. The trainer, generator, classifiers, refine step and CLI use this type, never a family's.</summary>
public abstract class CausalLanguageModel : Module
{
    /// <summary>The largest shard <see cref="SavePretrained"/> writes by default (5 GB, as save_pretrained).</summary>
    public const long DefaultMaxShardBytes = 5_000_000_000;

    /// <summary>The configuration (written back by <see cref="SavePretrained"/>).</summary>
    public abstract IModelConfig Config { get; }

    /// <summary>Final normed hidden states [B, T, hidden] for ids [B, T] and an optional mask [B, S] (1 = token, 0 = padding;
    /// S = cached + T); <paramref name="cache"/>, if given, receives this call's keys/values and supplies the earlier ones.</summary>
    public abstract Variable Hidden(Tensor inputIds, Tensor? attentionMask = null, ForwardCapture? capture = null, KvCache? cache = null);

    /// <summary>Logits [..., vocab] from final normed hidden states [..., hidden].</summary>
    public abstract Variable Head(Variable hidden);

    /// <summary>The weight [vocab, hidden] that maps hidden states to logits (lm_head's, or the embeddings' when tied).</summary>
    public abstract Variable OutputWeight { get; }

    /// <summary>True when <see cref="Head"/> is exactly hidden·<see cref="OutputWeight"/>ᵀ (no bias, no quantisation, no
    /// soft-capping), so a loss may fuse the head with the cross-entropy.</summary>
    public abstract bool HeadIsPlainLinear { get; }

    /// <summary>The dotted name of the LM head module ("lm_head"), which the BitNet transformation keeps full precision; null when tied.</summary>
    public virtual string? LmHeadName => "lm_head";

    /// <summary>Where the paper's SubLN goes in this architecture (the input of o_proj and down_proj in every layer).</summary>
    public abstract IReadOnlyList<SubLnHook> SubLnHooks { get; }

    /// <summary>An empty KV cache for this model (one entry per layer; capacity 0 grows as needed).</summary>
    public virtual KvCache CreateCache(int capacity = 0) => new(Config.NumHiddenLayers, capacity);

    /// <summary>Logits [B, T, vocab] for ids [B, T] (see <see cref="Hidden"/>).</summary>
    public Variable Forward(Tensor inputIds, Tensor? attentionMask = null, ForwardCapture? capture = null, KvCache? cache = null) =>
        Head(Hidden(inputIds, attentionMask, capture, cache));

    /// <summary>The group a parameter counts in ("embeddings", "attention", "mlp", "norms", "lm_head", "score" — a sequence
    /// classifier's head — or "other").</summary>
    public static string ParameterGroup(string name) => name switch
    {
        "lm_head.weight" => "lm_head",
        "score.weight" => "score",
        _ when name.Contains("embed_tokens", StringComparison.Ordinal) => "embeddings",
        _ when name.EndsWith("norm.weight", StringComparison.Ordinal) => "norms",
        _ when name.Contains(".self_attn.", StringComparison.Ordinal) => "attention",
        _ when name.Contains(".mlp.", StringComparison.Ordinal) => "mlp",
        _ => "other",
    };

    /// <summary>Writes config.json and the weights in the Hugging Face layout (see <see cref="Checkpoints.PretrainedCheckpoint.Save"/>).</summary>
    public void SavePretrained(string folder, DType dtype = DType.Float32, long maxShardBytes = DefaultMaxShardBytes) =>
        Checkpoints.PretrainedCheckpoint.Save(this, folder, dtype, maxShardBytes);
}
