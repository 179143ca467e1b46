namespace BitDistill.Models.Tokenization;

/// <summary>Settings for <see cref="BpeTrainer.Train"/>.</summary>
public sealed record BpeTrainerOptions
{
    /// <summary>Special tokens appended after the merges; matched whole in text, never split (the first is also EOS and PAD).</summary>
    public IReadOnlyList<string> SpecialTokens { get; init; } = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];

    /// <summary>A pair must occur at least this often to be merged.</summary>
    public int MinFrequency { get; init; } = 2;

    /// <summary>The pre-tokenization regex (Hugging Face Split, Isolated); Qwen2/Qwen3's by default.</summary>
    public string SplitPattern { get; init; } = BpeTrainer.QwenSplitPattern;

    /// <summary>Receives progress lines (pre-tokenization, every few hundred merges).</summary>
    public IProgress<string>? Progress { get; init; }
}
