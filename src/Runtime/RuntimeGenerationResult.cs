namespace BitDistill.Runtime;

/// <summary>The outcome of one <see cref="RuntimeGenerator.Generate"/>: ids, why it stopped, the logits at the last prompt
/// position, timings.</summary>
public sealed class RuntimeGenerationResult
{
    /// <summary>The prompt as given.</summary>
    public required int[] PromptIds { get; init; }
    /// <summary>The new tokens, including a final stop token if one ended generation.</summary>
    public required int[] GeneratedIds { get; init; }
    /// <summary>True when a stop token ended generation, false when the token budget did.</summary>
    public required bool StoppedAtStopToken { get; init; }
    /// <summary>Raw logits [vocab] at the last prompt position (what the first new token was chosen from).</summary>
    public required float[] PromptLastLogits { get; init; }
    /// <summary>Time of the prompt's forward pass.</summary>
    public TimeSpan PrefillTime { get; init; }
    /// <summary>Time of the one-token steps after it (sampling included).</summary>
    public TimeSpan DecodeTime { get; init; }
    /// <summary>Generated tokens after the first per second of <see cref="DecodeTime"/> (0 when fewer than two).</summary>
    public double DecodeTokensPerSecond => GeneratedIds.Length > 1 && DecodeTime > TimeSpan.Zero ? (GeneratedIds.Length - 1) / DecodeTime.TotalSeconds : 0;
}
