using BitDistill.Autograd;
using BitDistill.Models.Layers;
using BitDistill.Tensors;

namespace BitDistill.Models.Qwen;

/// <summary>The decoder stack without the LM head (Hugging Face's Qwen3Model, named "model" in checkpoints): embed_tokens, layers, norm.</summary>
public sealed class QwenTransformer : Module
{
    /// <summary>Builds the stack; weights from <paramref name="gen"/> or zeros.</summary>
    public QwenTransformer(QwenConfig config, Generator? gen = null)
    {
        EmbedTokens = Child("embed_tokens", new Embedding(config.VocabSize, config.HiddenSize, gen, (float)config.InitializerRange));
        Layers = Child("layers", new ModuleList<QwenDecoderLayer>(Enumerable.Range(0, config.NumHiddenLayers).Select(_ => new QwenDecoderLayer(config, gen))));
        Norm = Child("norm", new RmsNorm(config.HiddenSize, (float)config.RmsNormEps));
        Rotary = new RotaryEmbedding(config.HeadDim, config.RopeTheta);
    }

    /// <summary>Token embeddings [vocab, hidden].</summary>
    public Embedding EmbedTokens { get; }
    /// <summary>The decoder layers.</summary>
    public ModuleList<QwenDecoderLayer> Layers { get; }
    /// <summary>Final RMSNorm.</summary>
    public ILayer Norm { get; private set; }
    /// <summary>The cached RoPE tables.</summary>
    public RotaryEmbedding Rotary { get; }

    /// <summary>Final normed hidden states [B, T, hidden] for ids [B, T] (Int64/Int32) and an optional mask [B, S] (1 = token,
    /// 0 = padding, either side; S = cached + T). Positions are 0..T−1 (after any cached ones) without a mask; with one they are the
    /// count of real tokens before each token (padding gets position 1), as Hugging Face derives position_ids from the mask.</summary>
    public Variable Forward(Tensor inputIds, Tensor? attentionMask = null, ForwardCapture? capture = null, KvCache? cache = null)
    {
        if (inputIds.Rank != 2) throw new ArgumentException($"input ids must be [batch, time], got {Tensor.ShapeString(inputIds.Shape)}");
        int b = inputIds.Shape[0], t = inputIds.Shape[1], past = cache?.Length ?? 0;
        if (cache is not null && cache.Layers.Count != Layers.Count) throw new ArgumentException($"KV cache has {cache.Layers.Count} layers, the model {Layers.Count}");
        var device = EmbedTokens.Weight.Value.Device;
        var (positions, keyMask) = Positions(b, t, past, attentionMask, device);
        var rope = Rotary.ForPositions(positions, device);
        var h = EmbedTokens.Forward(inputIds);
        for (int i = 0; i < Layers.Count; i++)
        {
            if (capture?.CaptureHiddenStates == true) capture.HiddenStates.Add(h);
            int layer = i;
            Action<AttentionCapture>? qkv = capture is not null && capture.QkvLayers.Contains(i) ? a => capture.Qkv[layer] = a : null;
            h = Layers[i].Forward(h, rope, keyMask, cache?.Layers[i], qkv);
        }
        h = Norm.Forward(h);
        if (capture?.CaptureHiddenStates == true) capture.HiddenStates.Add(h);
        return h;
    }

    /// <summary>Per-row positions of the T new tokens, and the key padding mask (null when nothing is masked).</summary>
    internal static (int[][] Positions, Tensor? KeyMask) Positions(int b, int t, int past, Tensor? mask, Device device)
    {
        var pos = new int[b][];
        if (mask is null)
        {
            for (int r = 0; r < b; r++) { pos[r] = new int[t]; for (int i = 0; i < t; i++) pos[r][i] = past + i; }
            return (pos, null);
        }
        int s = past + t;
        if (mask.Rank != 2 || mask.Shape[0] != b || mask.Shape[1] != s)
            throw new ArgumentException($"attention mask must be [{b}, {s}] (batch, cached + new positions), got {Tensor.ShapeString(mask.Shape)}");
        var m = mask.To(DType.Float32).Contiguous().ToArray<float>();
        bool any = false;
        for (int r = 0; r < b; r++)
        {
            pos[r] = new int[t];
            int count = 0;
            for (int j = 0; j < s; j++)
            {
                bool keep = m[r * s + j] != 0;
                if (keep) count++; else any = true;
                if (j >= past) pos[r][j - past] = keep ? count - 1 : 1;
            }
        }
        if (!any) return (pos, null);
        for (int i = 0; i < m.Length; i++) m[i] = m[i] != 0 ? 1 : 0;
        return (pos, Tensor.FromArray(m, [b, s], device));
    }

    /// <inheritdoc/>
    protected override void OnChildReplaced(string name, Module module)
    {
        if (name == "norm") Norm = module as ILayer ?? throw new ArgumentException("norm must implement ILayer");
        else base.OnChildReplaced(name, module);
    }
}
