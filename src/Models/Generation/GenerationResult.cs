namespace BitDistill.Models.Generation;

/// <summary>The outcome of one generation: ids, text, the logits at the last prompt position, timings.</summary>
public sealed class GenerationResult
{
    /// <summary>The prompt as given.</summary>
    public required int[] PromptIds { get; init; }
    /// <summary>The new tokens, including a final stop token if one ended generation.</summary>
    public required int[] GeneratedIds { get; init; }
    /// <summary>Why generation ended.</summary>
    public required StopReason StopReason { get; init; }
    /// <summary>The decoded new tokens (empty without a tokenizer).</summary>
    public required string Text { get; init; }
    /// <summary>Raw logits [vocab] at the last prompt position (what the first new token was chosen from).</summary>
    public required float[] PromptLastLogits { get; init; }
    /// <summary>With <see cref="GenerationOptions.KeepStepLogits"/>: the raw logits each generated token was chosen from (the first is <see cref="PromptLastLogits"/> itself).</summary>
    public IReadOnlyList<float[]>? StepLogits { get; init; }
    /// <summary>Time of the prompt's forward pass.</summary>
    public TimeSpan PrefillTime { get; init; }
    /// <summary>Time of the one-token steps after it (sampling included).</summary>
    public TimeSpan DecodeTime { get; init; }
    /// <summary>Generated tokens after the first per second of <see cref="DecodeTime"/> (0 when fewer than two).</summary>
    public double DecodeTokensPerSecond => GeneratedIds.Length > 1 && DecodeTime > TimeSpan.Zero ? (GeneratedIds.Length - 1) / DecodeTime.TotalSeconds : 0;
}
