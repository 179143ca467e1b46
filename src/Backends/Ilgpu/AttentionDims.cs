using BitDistill.Kernels;

namespace BitDistill.Backends.Ilgpu;

/// <summary>An <see cref="AttentionShape"/> as the attention kernels take it by value (plain fields, flags as ints), plus
/// whether a key padding mask is bound.</summary>
internal struct AttentionDims
{
    public int Batch, Heads, KvHeads, T, S, D, Group, Causal, HasMask;
    public float Scale;

    public AttentionDims(in AttentionShape s, bool hasMask)
    {
        Batch = s.Batch; Heads = s.Heads; KvHeads = s.KvHeads; T = s.QueryLen; S = s.KeyLen; D = s.HeadDim; Group = s.Group;
        Causal = s.Causal ? 1 : 0; HasMask = hasMask ? 1 : 0; Scale = s.Scale;
    }

    /// <summary>Whether query i of batch row b may not see key j (causal future or padding).</summary>
    public readonly bool Masked(ILGPU.ArrayView<float> mask, int b, int i, int j) =>
        (Causal != 0 && j > i + S - T) || (HasMask != 0 && mask[b * S + j] == 0);
}
