using BitDistill.Tensors;

namespace BitDistill.Distill.Data;

/// <summary>Prompts for scoring or generation, LEFT-padded so every row's last prompt token sits at the last position (where
/// label-word scores are read and generation continues): ids [B, T] Int64, attention mask [B, T] Int64 (1 = token), the
/// class of each row (−1 for summarization) and the rows (references for metrics).</summary>
public sealed record PromptBatch(Tensor InputIds, Tensor AttentionMask, int[] Labels, IReadOnlyList<EncodedExample> Rows);
