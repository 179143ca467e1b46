namespace BitDistill.Kernels;

/// <summary>Shapes of one attention call: q [B, H, T, D], k and v [B, Hkv, S, D], o [B, H, T, D], log-sum-exp [B, H, T].
/// Query i sits at key position i + (S − T), so a KV cache (S &gt; T) and causal masking compose.</summary>
public readonly record struct AttentionShape(int Batch, int Heads, int KvHeads, int QueryLen, int KeyLen, int HeadDim, float Scale, bool Causal)
{
    /// <summary>Query heads per key/value head (grouped-query attention).</summary>
    public int Group => Heads / KvHeads;
}
