namespace BitDistill.Models.Tokenization;

/// <summary>How a Split pre-tokenizer treats the regex matches (Hugging Face SplitDelimiterBehavior).</summary>
internal enum SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous }
