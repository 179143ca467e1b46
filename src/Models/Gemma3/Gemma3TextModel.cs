using BitDistill.Autograd;
using BitDistill.Models.Layers;
using BitDistill.Models.Qwen;
using BitDistill.Tensors;

namespace BitDistill.Models.Gemma3;

/// <summary>The Gemma 3 decoder stack without the LM head (Hugging Face's Gemma3TextModel, named "model"): embed_tokens (scaled
/// by √hidden_size rounded to the checkpoint dtype), layers, norm; local layers use RoPE base rope_local_base_freq, global
/// layers rope_theta with any linear scaling.</summary>
public sealed class Gemma3TextModel : Module
{
    /// <summary>Builds the stack; weights from <paramref name="gen"/> or zeros.</summary>
    public Gemma3TextModel(Gemma3Config config, Generator? gen = null)
    {
        Config = config;
        EmbedTokens = Child("embed_tokens", new Embedding(config.VocabSize, config.HiddenSize, gen, (float)config.InitializerRange));
        Layers = Child("layers", new ModuleList<Gemma3DecoderLayer>(Enumerable.Range(0, config.NumHiddenLayers).Select(i => new Gemma3DecoderLayer(config, i, gen))));
        Norm = Child("norm", new Gemma3RmsNorm(config.HiddenSize, (float)config.RmsNormEps));
        LocalRotary = new RotaryEmbedding(config.HeadDim, config.RopeLocalBaseFreq);
        GlobalRotary = new RotaryEmbedding(config.HeadDim, config.RopeTheta, config.RopeScalingFactor);
        EmbedScale = config.EmbedScale;
    }

    /// <summary>The configuration.</summary>
    public Gemma3Config Config { get; }
    /// <summary>Token embeddings [vocab, hidden].</summary>
    public Embedding EmbedTokens { get; }
    /// <summary>The decoder layers.</summary>
    public ModuleList<Gemma3DecoderLayer> Layers { get; }
    /// <summary>Final RMSNorm.</summary>
    public ILayer Norm { get; private set; }
    /// <summary>RoPE of the sliding-window layers.</summary>
    public RotaryEmbedding LocalRotary { get; }
    /// <summary>RoPE of the global layers.</summary>
    public RotaryEmbedding GlobalRotary { get; }
    /// <summary>The factor on the embeddings.</summary>
    public float EmbedScale { get; }

    /// <summary>Final normed hidden states [B, T, hidden] (positions as <see cref="QwenTransformer.Forward"/>).</summary>
    public Variable Forward(Tensor inputIds, Tensor? attentionMask = null, ForwardCapture? capture = null, KvCache? cache = null)
    {
        if (inputIds.Rank != 2) throw new ArgumentException($"input ids must be [batch, time], got {Tensor.ShapeString(inputIds.Shape)}");
        int b = inputIds.Shape[0], t = inputIds.Shape[1], past = cache?.Length ?? 0;
        if (cache is not null && cache.Layers.Count != Layers.Count) throw new ArgumentException($"KV cache has {cache.Layers.Count} layers, the model {Layers.Count}");
        var device = EmbedTokens.Weight.Value.Device;
        var (positions, keyMask) = QwenTransformer.Positions(b, t, past, attentionMask, device);
        var local = LocalRotary.ForPositions(positions, device);
        var global = GlobalRotary.ForPositions(positions, device);
        var h = EmbedTokens.Forward(inputIds) * EmbedScale;
        for (int i = 0; i < Layers.Count; i++)
        {
            if (capture?.CaptureHiddenStates == true) capture.HiddenStates.Add(h);
            int layer = i;
            Action<AttentionCapture>? qkv = capture is not null && capture.QkvLayers.Contains(i) ? a => capture.Qkv[layer] = a : null;
            h = Layers[i].Forward(h, Layers[i].SelfAttn.IsSliding ? local : global, keyMask, cache?.Layers[i], qkv);
        }
        h = Norm.Forward(h);
        if (capture?.CaptureHiddenStates == true) capture.HiddenStates.Add(h);
        return h;
    }

    /// <inheritdoc/>
    protected override void OnChildReplaced(string name, Module module)
    {
        if (name == "norm") Norm = module as ILayer ?? throw new ArgumentException("norm must implement ILayer");
        else base.OnChildReplaced(name, module);
    }
}
