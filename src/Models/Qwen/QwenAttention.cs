using BitDistill.Autograd;
using BitDistill.Models.Layers;
using BitDistill.Tensors;

namespace BitDistill.Models.Qwen;

/// <summary>Grouped-query self-attention with RoPE and (Qwen3) per-head QK RMSNorm; children q_proj, k_proj, v_proj, o_proj, q_norm, k_norm.</summary>
public sealed class QwenAttention : Module
{
    /// <summary>Builds the projections for <paramref name="config"/>; weights from <paramref name="gen"/> (N(0, initializer_range)) or zeros.</summary>
    public QwenAttention(QwenConfig config, Generator? gen = null)
    {
        NumHeads = config.NumAttentionHeads; NumKeyValueHeads = config.NumKeyValueHeads; HeadDim = config.HeadDim;
        int e = config.HiddenSize; float std = (float)config.InitializerRange;
        QProj = Child("q_proj", new Linear(e, NumHeads * HeadDim, config.QkvBias, gen, std));
        KProj = Child("k_proj", new Linear(e, NumKeyValueHeads * HeadDim, config.QkvBias, gen, std));
        VProj = Child("v_proj", new Linear(e, NumKeyValueHeads * HeadDim, config.QkvBias, gen, std));
        OProj = Child("o_proj", new Linear(NumHeads * HeadDim, e, config.OutputProjectionBias, gen, std));
        if (config.QkNorm)
        {
            QNorm = Child("q_norm", new RmsNorm(HeadDim, (float)config.RmsNormEps));
            KNorm = Child("k_norm", new RmsNorm(HeadDim, (float)config.RmsNormEps));
        }
    }

    /// <summary>Query heads.</summary>
    public int NumHeads { get; }
    /// <summary>Key/value heads.</summary>
    public int NumKeyValueHeads { get; }
    /// <summary>Width of one head.</summary>
    public int HeadDim { get; }
    /// <summary>q_proj: hidden → heads·head_dim.</summary>
    public ILayer QProj { get; private set; }
    /// <summary>k_proj: hidden → kv_heads·head_dim.</summary>
    public ILayer KProj { get; private set; }
    /// <summary>v_proj: hidden → kv_heads·head_dim.</summary>
    public ILayer VProj { get; private set; }
    /// <summary>o_proj: heads·head_dim → hidden.</summary>
    public ILayer OProj { get; private set; }
    /// <summary>Qwen3's RMSNorm over each query head (null for Qwen2).</summary>
    public ILayer? QNorm { get; private set; }
    /// <summary>Qwen3's RMSNorm over each key head (null for Qwen2).</summary>
    public ILayer? KNorm { get; private set; }

    /// <summary>x [B, T, hidden] → [B, T, hidden]. <paramref name="keyMask"/> [B, S] (1 = attend) covers the cached and the new
    /// positions; <paramref name="cache"/>, if given, receives this step's keys/values and supplies the earlier ones.</summary>
    public Variable Forward(Variable x, RotaryTables rope, Tensor? keyMask = null, LayerKvCache? cache = null, Action<AttentionCapture>? capture = null)
    {
        int b = x.Size(0), t = x.Size(1);
        var q = QProj.Forward(x).Reshape(b, t, NumHeads, HeadDim);
        var k = KProj.Forward(x).Reshape(b, t, NumKeyValueHeads, HeadDim);
        var v = VProj.Forward(x).Reshape(b, t, NumKeyValueHeads, HeadDim);
        if (QNorm is not null) q = QNorm.Forward(q);
        if (KNorm is not null) k = KNorm.Forward(k);
        q = rope.Apply(q.Permute(0, 2, 1, 3));
        k = rope.Apply(k.Permute(0, 2, 1, 3));
        v = v.Permute(0, 2, 1, 3);
        if (cache is not null) (k, v) = cache.Append(k, v);
        capture?.Invoke(new AttentionCapture(q, k, v));
        var o = F.Attention(q, k, v, causal: true, keyPaddingMask: keyMask);
        var merged = o.Permute(0, 2, 1, 3).Reshape(b, t, NumHeads * HeadDim);
        return OProj.Forward(merged);
    }

    /// <inheritdoc/>
    protected override void OnChildReplaced(string name, Module module)
    {
        var layer = module as ILayer ?? throw new ArgumentException($"self_attn.{name} must implement ILayer, got {module.GetType().Name}");
        switch (name)
        {
            case "q_proj": QProj = layer; break;
            case "k_proj": KProj = layer; break;
            case "v_proj": VProj = layer; break;
            case "o_proj": OProj = layer; break;
            case "q_norm": QNorm = layer; break;
            case "k_norm": KNorm = layer; break;
            default: base.OnChildReplaced(name, module); break;
        }
    }
}
