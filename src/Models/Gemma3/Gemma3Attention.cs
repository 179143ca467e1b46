using BitDistill.Autograd;
using BitDistill.Models.Layers;
using BitDistill.Tensors;

namespace BitDistill.Models.Gemma3;

/// <summary>Gemma 3 grouped-query self-attention: per-head q_norm/k_norm (Gemma RMSNorm) before RoPE, scores scaled by
/// query_pre_attn_scalar^-0.5, optional soft-capping, and on sliding-window layers only the keys less than sliding_window
/// positions back (Hugging Face's sliding-window causal mask: kv &gt; q − window). Children q_proj, k_proj, v_proj, o_proj,
/// q_norm, k_norm.</summary>
public sealed class Gemma3Attention : Module
{
    /// <summary>Builds the projections for layer <paramref name="layer"/>; weights from <paramref name="gen"/> or zeros.</summary>
    public Gemma3Attention(Gemma3Config config, int layer, Generator? gen = null)
    {
        NumHeads = config.NumAttentionHeads; NumKeyValueHeads = config.NumKeyValueHeads; HeadDim = config.HeadDim;
        IsSliding = config.LayerTypes[layer];
        Window = config.SlidingWindow;
        Scale = (float)Math.Pow(config.QueryPreAttnScalar, -0.5);
        Softcap = config.AttnLogitSoftcapping is double c ? (float)c : null;
        int e = config.HiddenSize; float std = (float)config.InitializerRange;
        QProj = Child("q_proj", new Linear(e, NumHeads * HeadDim, false, gen, std));
        KProj = Child("k_proj", new Linear(e, NumKeyValueHeads * HeadDim, false, gen, std));
        VProj = Child("v_proj", new Linear(e, NumKeyValueHeads * HeadDim, false, gen, std));
        OProj = Child("o_proj", new Linear(NumHeads * HeadDim, e, false, gen, std));
        QNorm = Child("q_norm", new Gemma3RmsNorm(HeadDim, (float)config.RmsNormEps));
        KNorm = Child("k_norm", new Gemma3RmsNorm(HeadDim, (float)config.RmsNormEps));
    }

    /// <summary>Query heads.</summary>
    public int NumHeads { get; }
    /// <summary>Key/value heads.</summary>
    public int NumKeyValueHeads { get; }
    /// <summary>Width of one head.</summary>
    public int HeadDim { get; }
    /// <summary>A sliding-window (local) layer.</summary>
    public bool IsSliding { get; }
    /// <summary>The sliding window (used on local layers only).</summary>
    public int Window { get; }
    /// <summary>query_pre_attn_scalar^-0.5.</summary>
    public float Scale { get; }
    /// <summary>attn_logit_softcapping, or null.</summary>
    public float? Softcap { get; }
    /// <summary>q_proj: hidden → heads·head_dim.</summary>
    public ILayer QProj { get; private set; }
    /// <summary>k_proj: hidden → kv_heads·head_dim.</summary>
    public ILayer KProj { get; private set; }
    /// <summary>v_proj: hidden → kv_heads·head_dim.</summary>
    public ILayer VProj { get; private set; }
    /// <summary>o_proj: heads·head_dim → hidden.</summary>
    public ILayer OProj { get; private set; }
    /// <summary>RMSNorm over each query head.</summary>
    public ILayer QNorm { get; private set; }
    /// <summary>RMSNorm over each key head.</summary>
    public ILayer KNorm { get; private set; }

    /// <summary>x [B, T, hidden] → [B, T, hidden]; <paramref name="keyMask"/> [B, S] (1 = attend) covers cached and new positions.</summary>
    public Variable Forward(Variable x, RotaryTables rope, Tensor? keyMask = null, LayerKvCache? cache = null, Action<AttentionCapture>? capture = null)
    {
        int b = x.Size(0), t = x.Size(1);
        var q = QNorm.Forward(QProj.Forward(x).Reshape(b, t, NumHeads, HeadDim));
        var k = KNorm.Forward(KProj.Forward(x).Reshape(b, t, NumKeyValueHeads, HeadDim));
        var v = VProj.Forward(x).Reshape(b, t, NumKeyValueHeads, HeadDim);
        q = rope.Apply(q.Permute(0, 2, 1, 3));
        k = rope.Apply(k.Permute(0, 2, 1, 3));
        v = v.Permute(0, 2, 1, 3);
        if (cache is not null)
        {
            (k, v) = cache.Append(k, v);
            // the mask covers every position so far; a sliding-window cache holds only the newest of them
            if (keyMask is not null && keyMask.Size(1) > k.Size(2)) keyMask = keyMask.Narrow(1, keyMask.Size(1) - k.Size(2), k.Size(2)).Contiguous();
        }
        capture?.Invoke(new AttentionCapture(q, k, v));
        var o = Attend(q, k, v, keyMask);
        return OProj.Forward(o.Permute(0, 2, 1, 3).Reshape(b, t, NumHeads * HeadDim));
    }

    // Queries are the last T of the S cached + new positions (cache indices S−T … S−1; the window counts cache slots, padding
    // included, as Hugging Face's masks do). Keys older than every query's window are dropped first, so a decoding step reads
    // at most `window` keys; when what is left is within every query's window the fused causal kernel is exact, otherwise
    // (a prefill longer than the window, or soft-capping) the scores are formed explicitly with the window mask.
    private Variable Attend(Variable q, Variable k, Variable v, Tensor? keyMask)
    {
        int t = q.Size(2), s = k.Size(2);
        if (IsSliding)
        {
            int start = Math.Max(0, s - t - Window + 1);
            if (start > 0)
            {
                k = k.Narrow(2, start, s - start);
                v = v.Narrow(2, start, s - start);
                keyMask = keyMask?.Narrow(1, start, s - start).Contiguous();
                s -= start;
            }
        }
        bool windowed = IsSliding && s > Window;
        if (!windowed && Softcap is null) return F.Attention(q, k, v, causal: true, keyPaddingMask: keyMask, scale: Scale);
        return ExplicitAttention(q, k, v, keyMask, windowed ? Window : int.MaxValue, Softcap, Scale);
    }

    /// <summary>softmax(cap·tanh(q·kᵀ·scale/cap) + mask)·v with grouped-query heads, a causal mask limited to
    /// <paramref name="window"/> positions and a key padding mask; differentiable (plain autograd ops).</summary>
    internal static Variable ExplicitAttention(Variable q, Variable k, Variable v, Tensor? keyMask, int window, float? softcap, float scale)
    {
        int b = q.Size(0), h = q.Size(1), t = q.Size(2), d = q.Size(3), hkv = k.Size(1), s = k.Size(2), g = h / hkv;
        // heads kvh·g … kvh·g+g−1 share key head kvh (repeat_kv), so they stack into one [g·T] block per key head
        var qg = q.Reshape(b, hkv, g * t, d);
        var scores = qg.MatMul(k.Transpose(-2, -1)) * scale;
        if (softcap is float c) scores = (scores / c).Tanh() * c;
        int mb = keyMask is null ? 1 : b;
        float[]? km = keyMask?.To(DType.Float32).Contiguous().ToArray<float>();
        var mask = new float[mb * g * t * s];
        var rowKeep = new float[mb * g * t];
        bool emptyRow = false;
        int q0 = s - t;
        for (int r = 0; r < mb; r++)
            for (int j = 0; j < g; j++)
                for (int i = 0; i < t; i++)
                {
                    int qi = q0 + i, rowIndex = (r * g + j) * t + i, row = rowIndex * s;
                    bool any = false;
                    for (int kj = 0; kj < s; kj++)
                    {
                        bool ok = kj <= qi && qi - kj < window && (km is null || km[r * s + kj] != 0);
                        mask[row + kj] = ok ? 0f : -1e30f; // finite: a fully masked (padding) row stays finite
                        any |= ok;
                    }
                    rowKeep[rowIndex] = any ? 1f : 0f;
                    emptyRow |= !any;
                }
        var device = q.Value.Device;
        var probs = (scores + new Variable(Tensor.FromArray(mask, [mb, 1, g * t, s], device))).Softmax(-1);
        // a query that may see no key (a left-padding position) outputs zeros, as the fused kernel does
        if (emptyRow) probs = probs * new Variable(Tensor.FromArray(rowKeep, [mb, 1, g * t, 1], device));
        return probs.MatMul(v).Reshape(b, h, t, d);
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
