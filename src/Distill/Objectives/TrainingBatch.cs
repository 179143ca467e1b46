using BitDistill.Tensors;

namespace BitDistill.Distill.Objectives;

/// <summary>One batch as objectives see it: ids [B, T], per-position targets [B, T] (the token each position must predict,
/// already shifted; −100 = no loss, so for tasks only the answer tokens carry targets), and an optional attention mask
/// [B, T] (1 = token).</summary>
public sealed record TrainingBatch(Tensor InputIds, Tensor Targets, Tensor? AttentionMask = null);
