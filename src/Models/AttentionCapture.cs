using BitDistill.Autograd;

namespace BitDistill.Models;

/// <summary>One layer's attention inputs: Q [B, H, T, D] and K [B, Hkv, S, D] after q_norm/k_norm and RoPE, V [B, Hkv, S, D].</summary>
public sealed record AttentionCapture(Variable Query, Variable Key, Variable Value);
