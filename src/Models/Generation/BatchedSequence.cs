namespace BitDistill.Models.Generation;

/// <summary>One row of a batched generation: the prompt, the greedy continuation and why it ended.</summary>
public sealed record BatchedSequence
{
    /// <summary>The prompt as given (no padding).</summary>
    public required int[] PromptIds { get; init; }
    /// <summary>The new tokens, including a final stop token if one ended the row.</summary>
    public required int[] GeneratedIds { get; init; }
    /// <summary>Why the row ended.</summary>
    public required StopReason StopReason { get; init; }
    /// <summary>The new tokens decoded without special tokens (empty without a tokenizer).</summary>
    public required string Text { get; init; }
}
