using BitDistill.Autograd;
using BitDistill.Models.Layers;
using BitDistill.Tensors;

namespace BitDistill.Models.Gemma3;

// Gemma 3 causal LMs with the tensor names of the Hugging Face checkpoints (modeling_gemma3.py):
//   [language_model.]model.embed_tokens.weight                      (scaled by √hidden_size in the forward)
//   [language_model.]model.layers.{i}.input_layernorm.weight          (Gemma RMSNorm: scale 1 + weight)
//   [language_model.]model.layers.{i}.self_attn.{q,k,v,o}_proj.weight
//   [language_model.]model.layers.{i}.self_attn.{q,k}_norm.weight     (per head, before RoPE)
//   [language_model.]model.layers.{i}.post_attention_layernorm.weight
//   [language_model.]model.layers.{i}.pre_feedforward_layernorm.weight
//   [language_model.]model.layers.{i}.mlp.{gate,up,down}_proj.weight
//   [language_model.]model.layers.{i}.post_feedforward_layernorm.weight
//   [language_model.]model.norm.weight
//   [language_model.]lm_head.weight                                   (absent when tied, as in every released Gemma 3)
// The prefix "language_model." is there for model_type "gemma3" (the text part of Gemma3ForConditionalGeneration).

/// <summary>A Gemma 3 causal language model (Gemma3ForCausalLM, or the language model of a Gemma3ForConditionalGeneration
/// checkpoint), behind the same contract as Qwen: forward with capture, KV cache, the LM head with optional final
/// soft-capping, SubLN hook points and checkpoint I/O.</summary>
public sealed class Gemma3Model : CausalLanguageModel
{
    private readonly Gemma3LanguageModel? _wrapped;
    private Linear? _lmHead;
    private readonly float? _finalSoftcap;

    /// <summary>A model for <paramref name="config"/>; Linear and Embedding weights from <paramref name="gen"/> (N(0,
    /// initializer_range²)) or zeros, norms zero (Gemma's scale 1 + weight starts at 1).</summary>
    public Gemma3Model(Gemma3Config config, Generator? gen = null)
    {
        Config = config;
        _finalSoftcap = config.FinalLogitSoftcapping is double c ? (float)c : null;
        if (config.IsMultimodal)
        {
            _wrapped = Child("language_model", new Gemma3LanguageModel(config, gen));
            Model = _wrapped.Model;
        }
        else
        {
            Model = Child("model", new Gemma3TextModel(config, gen));
            if (!config.TieWordEmbeddings)
                _lmHead = Child("lm_head", new Linear(config.HiddenSize, config.VocabSize, false, gen, (float)config.InitializerRange));
        }
    }

    /// <summary>The configuration.</summary>
    public override Gemma3Config Config { get; }
    /// <summary>The decoder stack.</summary>
    public Gemma3TextModel Model { get; }
    /// <summary>The output projection [vocab, hidden]; null when tied to the embeddings.</summary>
    public Linear? LmHead => _wrapped is not null ? _wrapped.LmHead : _lmHead;
    /// <inheritdoc/>
    public override Variable OutputWeight => LmHead?.Weight ?? Model.EmbedTokens.Weight;
    /// <inheritdoc/>
    public override string? LmHeadName => LmHead is null ? null : Config.WeightPrefix + "lm_head";

    /// <inheritdoc/>
    /// <summary>Sliding-window layers get caches bounded by their window (2·window positions), global layers the full length.</summary>
    public override KvCache CreateCache(int capacity = 0) =>
        new(Model.Layers.Items.Select(l => new LayerKvCache(capacity, l.SelfAttn.IsSliding ? l.SelfAttn.Window : 0)));

    /// <inheritdoc/>
    public override Variable Hidden(Tensor inputIds, Tensor? attentionMask = null, ForwardCapture? capture = null, KvCache? cache = null) =>
        Model.Forward(inputIds, attentionMask, capture, cache);

    /// <inheritdoc/>
    public override Variable Head(Variable hidden)
    {
        var logits = LmHead is not null ? LmHead.Forward(hidden) : F.Linear(hidden, Model.EmbedTokens.Weight);
        return _finalSoftcap is float c ? (logits / c).Tanh() * c : logits;
    }

    /// <inheritdoc/>
    public override bool HeadIsPlainLinear => _finalSoftcap is null && (LmHead is null || (LmHead.GetType() == typeof(Linear) && LmHead.Bias is null));

    /// <summary>The paper's SubLN places: the input of o_proj (attn_sub_norm) and of down_proj (ffn_sub_norm) in every layer.</summary>
    /// <remarks>Gemma already normalises each sub-layer's OUTPUT (post_attention_layernorm after o_proj, post_feedforward_layernorm
    /// after down_proj) and its input (input_layernorm, pre_feedforward_layernorm); none of these sees the input of the two
    /// output projections, which is what SubLN stabilises: the attention context and the gated GELU product enter o_proj and
    /// down_proj with an unbounded scale, and BitLinear quantises them per token to 8 bits. So SubLN goes exactly where the
    /// paper puts it, inside the sub-layer, and Gemma's own post-norms stay after the projections, untouched.</remarks>
    public override IReadOnlyList<SubLnHook> SubLnHooks => Model.Layers.Items.SelectMany(l => new[]
    {
        new SubLnHook(l.SelfAttn, "attn_sub_norm", "o_proj", Config.NumAttentionHeads * Config.HeadDim),
        new SubLnHook(l.Mlp, "ffn_sub_norm", "down_proj", Config.IntermediateSize),
    }).ToArray();

    /// <inheritdoc/>
    protected override void OnChildReplaced(string name, Module module)
    {
        if (name == "lm_head") _lmHead = module as Linear ?? throw new ArgumentException("lm_head must be a Linear");
        else base.OnChildReplaced(name, module);
    }
}
