namespace BitDistill.Models.Generation;

/// <summary>One generated token as streamed: its index among the new tokens, its id, the text it completes (empty while a
/// multi-byte character is still split, or without a tokenizer), and whether it is a stop token.</summary>
public readonly record struct GeneratedToken(int Index, int Id, string Text, bool IsStop);
