using BitDistill.Autograd;
using BitDistill.Models.Layers;
using BitDistill.Tensors;

namespace BitDistill.Models.Qwen;

/// <summary>Pre-norm decoder block: h += self_attn(input_layernorm(h)); h += mlp(post_attention_layernorm(h)).</summary>
public sealed class QwenDecoderLayer : Module
{
    /// <summary>Builds one block; weights from <paramref name="gen"/> or zeros, norms ones.</summary>
    public QwenDecoderLayer(QwenConfig config, Generator? gen = null)
    {
        InputLayerNorm = Child("input_layernorm", new RmsNorm(config.HiddenSize, (float)config.RmsNormEps));
        SelfAttn = Child("self_attn", new QwenAttention(config, gen));
        PostAttentionLayerNorm = Child("post_attention_layernorm", new RmsNorm(config.HiddenSize, (float)config.RmsNormEps));
        Mlp = Child("mlp", new QwenMlp(config, gen));
    }

    /// <summary>RMSNorm before attention.</summary>
    public ILayer InputLayerNorm { get; private set; }
    /// <summary>The attention block.</summary>
    public QwenAttention SelfAttn { get; }
    /// <summary>RMSNorm before the MLP.</summary>
    public ILayer PostAttentionLayerNorm { get; private set; }
    /// <summary>The MLP block.</summary>
    public QwenMlp Mlp { get; }

    /// <summary>h [B, T, hidden] → [B, T, hidden].</summary>
    public Variable Forward(Variable h, RotaryTables rope, Tensor? keyMask = null, LayerKvCache? cache = null, Action<AttentionCapture>? capture = null)
    {
        h = h + SelfAttn.Forward(InputLayerNorm.Forward(h), rope, keyMask, cache, capture);
        return h + Mlp.Forward(PostAttentionLayerNorm.Forward(h));
    }

    /// <inheritdoc/>
    protected override void OnChildReplaced(string name, Module module)
    {
        switch (name)
        {
            case "input_layernorm": InputLayerNorm = module as ILayer ?? throw new ArgumentException($"{name} must implement ILayer"); break;
            case "post_attention_layernorm": PostAttentionLayerNorm = module as ILayer ?? throw new ArgumentException($"{name} must implement ILayer"); break;
            default: base.OnChildReplaced(name, module); break;
        }
    }
}
