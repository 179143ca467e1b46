using BitDistill.Autograd;
using BitDistill.Models.Layers;
using BitDistill.Tensors;

namespace BitDistill.Models.Gemma3;

/// <summary>Gemma 3's sandwich-norm block: h += post_attention_layernorm(self_attn(input_layernorm(h)));
/// h += post_feedforward_layernorm(mlp(pre_feedforward_layernorm(h))).</summary>
public sealed class Gemma3DecoderLayer : Module
{
    /// <summary>Builds block <paramref name="layer"/>; weights from <paramref name="gen"/> or zeros, norms zero (scale 1).</summary>
    public Gemma3DecoderLayer(Gemma3Config config, int layer, Generator? gen = null)
    {
        float eps = (float)config.RmsNormEps;
        InputLayerNorm = Child("input_layernorm", new Gemma3RmsNorm(config.HiddenSize, eps));
        SelfAttn = Child("self_attn", new Gemma3Attention(config, layer, gen));
        PostAttentionLayerNorm = Child("post_attention_layernorm", new Gemma3RmsNorm(config.HiddenSize, eps));
        PreFeedforwardLayerNorm = Child("pre_feedforward_layernorm", new Gemma3RmsNorm(config.HiddenSize, eps));
        Mlp = Child("mlp", new Gemma3Mlp(config, gen));
        PostFeedforwardLayerNorm = Child("post_feedforward_layernorm", new Gemma3RmsNorm(config.HiddenSize, eps));
    }

    /// <summary>RMSNorm before attention.</summary>
    public ILayer InputLayerNorm { get; private set; }
    /// <summary>The attention block.</summary>
    public Gemma3Attention SelfAttn { get; }
    /// <summary>RMSNorm of the attention output, before the residual add.</summary>
    public ILayer PostAttentionLayerNorm { get; private set; }
    /// <summary>RMSNorm before the MLP.</summary>
    public ILayer PreFeedforwardLayerNorm { get; private set; }
    /// <summary>The MLP block.</summary>
    public Gemma3Mlp Mlp { get; }
    /// <summary>RMSNorm of the MLP output, before the residual add.</summary>
    public ILayer PostFeedforwardLayerNorm { get; private set; }

    /// <summary>h [B, T, hidden] → [B, T, hidden].</summary>
    public Variable Forward(Variable h, RotaryTables rope, Tensor? keyMask = null, LayerKvCache? cache = null, Action<AttentionCapture>? capture = null)
    {
        h = h + PostAttentionLayerNorm.Forward(SelfAttn.Forward(InputLayerNorm.Forward(h), rope, keyMask, cache, capture));
        return h + PostFeedforwardLayerNorm.Forward(Mlp.Forward(PreFeedforwardLayerNorm.Forward(h)));
    }

    /// <inheritdoc/>
    protected override void OnChildReplaced(string name, Module module)
    {
        var layer = module as ILayer;
        switch (name)
        {
            case "input_layernorm": InputLayerNorm = layer ?? throw new ArgumentException($"{name} must implement ILayer"); break;
            case "post_attention_layernorm": PostAttentionLayerNorm = layer ?? throw new ArgumentException($"{name} must implement ILayer"); break;
            case "pre_feedforward_layernorm": PreFeedforwardLayerNorm = layer ?? throw new ArgumentException($"{name} must implement ILayer"); break;
            case "post_feedforward_layernorm": PostFeedforwardLayerNorm = layer ?? throw new ArgumentException($"{name} must implement ILayer"); break;
            default: base.OnChildReplaced(name, module); break;
        }
    }
}
