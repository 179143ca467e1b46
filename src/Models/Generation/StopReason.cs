namespace BitDistill.Models.Generation;

/// <summary>Why generation ended.</summary>
public enum StopReason
{
    /// <summary>A stop token was generated.</summary>
    StopToken,
    /// <summary><see cref="GenerationOptions.MaxNewTokens"/> tokens were generated.</summary>
    MaxNewTokens,
}
