using BitDistill.Autograd;

namespace BitDistill.Models;

/// <summary>What a forward pass should record besides the logits: hidden states and, for chosen layers, Q/K/V.</summary>
public sealed class ForwardCapture
{
    /// <summary>Records hidden states if <paramref name="hiddenStates"/>, and Q/K/V at the given layer indices.</summary>
    public ForwardCapture(bool hiddenStates = false, params int[] qkvLayers)
    {
        CaptureHiddenStates = hiddenStates;
        QkvLayers = qkvLayers.ToHashSet();
    }

    /// <summary>Whether <see cref="HiddenStates"/> is filled.</summary>
    public bool CaptureHiddenStates { get; }
    /// <summary>Layers whose Q/K/V are recorded.</summary>
    public IReadOnlySet<int> QkvLayers { get; }
    /// <summary>As Hugging Face's output_hidden_states: the embeddings, the input of every later layer, and last the final
    /// normed output (L + 1 entries of [B, T, hidden]).</summary>
    public List<Variable> HiddenStates { get; } = new();
    /// <summary>Q/K/V per recorded layer.</summary>
    public Dictionary<int, AttentionCapture> Qkv { get; } = new();
}
