using BitDistill.Kernels;

namespace BitDistill.Tensors;

/// <summary>The argument checks every backend's attention makes: q, k and v fit the <see cref="AttentionShape"/>, the heads
/// group evenly, causal attention has at least as many keys as queries, and the key padding mask is [B, S].</summary>
public static class AttentionArguments
{
    /// <summary>Throws an <see cref="ArgumentException"/> naming the shapes when the arguments do not fit.</summary>
    public static void Validate(in AttentionShape s, Tensor q, Tensor k, Tensor v, Tensor? mask)
    {
        int[] qs = [s.Batch, s.Heads, s.QueryLen, s.HeadDim], ks = [s.Batch, s.KvHeads, s.KeyLen, s.HeadDim];
        if (!q.Shape.SequenceEqual(qs) || !k.Shape.SequenceEqual(ks) || !v.Shape.SequenceEqual(ks))
            throw new ArgumentException($"attention shapes q {Tensor.ShapeString(q.Shape)}, k {Tensor.ShapeString(k.Shape)}, v {Tensor.ShapeString(v.Shape)} do not match {s}");
        if (s.KvHeads <= 0 || s.Heads % s.KvHeads != 0) throw new ArgumentException($"{s.Heads} query heads are not a multiple of {s.KvHeads} kv heads");
        if (s.Causal && s.QueryLen > s.KeyLen) throw new ArgumentException($"causal attention needs key length ≥ query length ({s.KeyLen} < {s.QueryLen})");
        if (mask is not null && !mask.Shape.SequenceEqual(new[] { s.Batch, s.KeyLen }))
            throw new ArgumentException($"key padding mask must be [{s.Batch}, {s.KeyLen}], got {Tensor.ShapeString(mask.Shape)}");
    }
}
