using BitDistill.Autograd;
using BitDistill.Models.Layers;
using BitDistill.Tensors;

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
// Every projection is a child module called through ILayer, so the BitNet transformation (BitNet/BitNetTransform.cs) can swap
// Linear for BitLinear and attach SubLN at the hook points this file declares (SubLnHooks) without the architecture knowing.

/// <summary>A Qwen3 / Qwen2 / Qwen2.5 causal language model (Hugging Face's Qwen3ForCausalLM / Qwen2ForCausalLM): a
/// <see cref="QwenTransformer"/> named "model" and lm_head (absent when the embeddings are tied). The architecture only:
/// losses live in the recipe's objectives, checkpoint I/O in <see cref="Checkpoints.PretrainedCheckpoint"/>.</summary>
public sealed class QwenModel : CausalLanguageModel
{
    /// <summary>A model for <paramref name="config"/>. With <paramref name="gen"/>, Linear and Embedding weights are drawn from
    /// N(0, initializer_range²), biases are zero and norms one (Hugging Face's _init_weights); without it every weight is zero
    /// (to be loaded). Always full precision: a ternary model is this one after <see cref="BitNet.BitNetTransform"/>
    /// (which <see cref="ModelRegistry.Create"/> applies when the config has a "bitnet" field).</summary>
    public QwenModel(QwenConfig config, Generator? gen = null)
    {
        Config = config;
        Model = Child("model", new QwenTransformer(config, gen));
        if (!config.TieWordEmbeddings)
            LmHead = Child("lm_head", new Linear(config.HiddenSize, config.VocabSize, false, gen, (float)config.InitializerRange));
    }

    /// <summary>The configuration (written back by <see cref="CausalLanguageModel.SavePretrained"/>).</summary>
    public override QwenConfig Config { get; }
    /// <summary>The decoder stack.</summary>
    public QwenTransformer Model { get; }
    /// <summary>The output projection [vocab, hidden]; null when tied to the embeddings.</summary>
    public Linear? LmHead { get; private set; }
    /// <inheritdoc/>
    public override Variable OutputWeight => LmHead?.Weight ?? Model.EmbedTokens.Weight;
    /// <inheritdoc/>
    public override string? LmHeadName => LmHead is null ? null : "lm_head";

    /// <inheritdoc/>
    public override Variable Hidden(Tensor inputIds, Tensor? attentionMask = null, ForwardCapture? capture = null, KvCache? cache = null) =>
        Model.Forward(inputIds, attentionMask, capture, cache);

    /// <inheritdoc/>
    public override Variable Head(Variable hidden) => LmHead is not null ? LmHead.Forward(hidden) : F.Linear(hidden, Model.EmbedTokens.Weight);

    /// <inheritdoc/>
    public override bool HeadIsPlainLinear => LmHead is null || (LmHead.GetType() == typeof(Linear) && LmHead.Bias is null);

    /// <summary>The paper's SubLN places: self_attn.attn_sub_norm before o_proj and mlp.ffn_sub_norm before down_proj, in every layer.</summary>
    public override IReadOnlyList<SubLnHook> SubLnHooks => SubLnHooksOf(Model, Config);

    /// <summary>The SubLN places of a Qwen decoder stack (shared with the sequence classifier built on the same stack).</summary>
    internal static IReadOnlyList<SubLnHook> SubLnHooksOf(QwenTransformer model, QwenConfig config) => model.Layers.Items.SelectMany(l => new[]
    {
        new SubLnHook(l.SelfAttn, "attn_sub_norm", "o_proj", config.NumAttentionHeads * config.HeadDim),
        new SubLnHook(l.Mlp, "ffn_sub_norm", "down_proj", config.IntermediateSize),
    }).ToArray();

    /// <summary>Loads a Qwen-family Hugging Face folder (see <see cref="ModelRegistry.FromPretrained"/>).</summary>
    public static QwenModel FromPretrained(string folder, Device? device = null) =>
        ModelRegistry.FromPretrained(folder, device) as QwenModel
        ?? throw new ModelConfigException(Path.Combine(folder, "config.json"), "model_type", "not a Qwen-family model");

    /// <inheritdoc/>
    protected override void OnChildReplaced(string name, Module module)
    {
        if (name == "lm_head") LmHead = module as Linear ?? throw new ArgumentException("lm_head must be a Linear");
        else base.OnChildReplaced(name, module);
    }
}
