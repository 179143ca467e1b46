using BitDistill.Kernels;
using BitDistill.Tensors;

namespace BitDistill.Autograd.Ops;

/// <summary>Causal scaled-dot-product attention with grouped-query heads and an optional key padding mask, fused
/// (see <see cref="AttentionKernels"/>): saves q, k, v, the output and one log-sum-exp per row, never the probabilities.</summary>
[Op("sdpa")]
internal sealed class AttentionFn(AttentionShape shape, Tensor q, Tensor k, Tensor v, Tensor? mask, Tensor o, Tensor lse) : Function
{
    private Tensor? _q = q, _k = k, _v = v, _o = o, _lse = lse;

    private static (float[] a, int off) Arr(Tensor t) => ((float[])((ManagedStorage)t.Storage).Array, t.Offset);

    public static Variable Apply(Variable q, Variable k, Variable v, bool causal, Tensor? keyPaddingMask, float? scale)
    {
        if (q.Rank != 4 || k.Rank != 4 || v.Rank != 4) throw new ArgumentException("attention expects q [B, H, T, D], k and v [B, Hkv, S, D]");
        int B = q.Size(0), H = q.Size(1), T = q.Size(2), D = q.Size(3), Hkv = k.Size(1), S = k.Size(2);
        if (k.Size(0) != B || v.Size(0) != B || k.Size(3) != D || !v.Shape.SequenceEqual(k.Shape))
            throw new ArgumentException($"attention shapes q {Tensor.ShapeString(q.Shape)}, k {Tensor.ShapeString(k.Shape)}, v {Tensor.ShapeString(v.Shape)} do not agree");
        if (keyPaddingMask is not null && (keyPaddingMask.Rank != 2 || keyPaddingMask.Shape[0] != B || keyPaddingMask.Shape[1] != S))
            throw new ArgumentException($"key padding mask must be [{B}, {S}], got {Tensor.ShapeString(keyPaddingMask.Shape)}");
        var shape = new AttentionShape(B, H, Hkv, T, S, D, scale ?? 1f / MathF.Sqrt(D), causal);
        bool save = Recording(q, k, v);
        var qc = q.Value.Contiguous();
        // Inference reads K/V in place when each (batch, head) block is a run of contiguous rows, as in the filled prefix
        // of a preallocated KV cache [B, Hkv, capacity, D]; the backward needs contiguous copies.
        bool inPlace = !save && RowBlocks(k.Value) && RowBlocks(v.Value) && k.Value.Stride(0) == v.Value.Stride(0) && k.Value.Stride(1) == v.Value.Stride(1);
        var kc = inPlace ? k.Value : k.Value.Contiguous(); var vc = inPlace ? v.Value : v.Value.Contiguous();
        var m = keyPaddingMask?.To(DType.Float32).Contiguous().ToArray<float>();
        var o = Tensor.Uninitialized([B, H, T, D], DType.Float32, qc.Device);
        var lse = Tensor.Uninitialized([B, H, T], DType.Float32, qc.Device);
        var (qa, qo) = Arr(qc); var (ka, ko) = Arr(kc); var (va, vo) = Arr(vc); var (oa, oo) = Arr(o); var (la, lo) = Arr(lse);
        AttentionKernels.Forward(shape, qa, qo, ka, ko, va, vo, m, oa, oo, la, lo, kc.Stride(0), kc.Stride(1));
        var mt = m is null ? null : Tensor.FromArray(m, [B, S], qc.Device);
        return Record(new AttentionFn(shape, save ? qc : null!, save ? kc : null!, save ? vc : null!, mt, o, save ? lse : null!), o, q, k, v);
    }

    // [B, Hkv, S, D] with contiguous rows of D, rows of one head adjacent, and heads not overlapping.
    private static bool RowBlocks(Tensor t) =>
        t.Storage is ManagedStorage && t.Stride(3) == 1 && t.Stride(2) == t.Size(3) && t.Stride(1) >= t.Size(2) * t.Size(3)
        && (t.Size(0) == 1 || t.Stride(0) >= t.Size(1) * t.Stride(1));

    protected internal override Tensor?[] Backward(Tensor g, bool[] needs)
    {
        var gc = g.Contiguous();
        var dq = Tensor.Uninitialized(_q!.ShapeArray, DType.Float32, g.Device);
        var dk = Tensor.Uninitialized(_k!.ShapeArray, DType.Float32, g.Device);
        var dv = Tensor.Uninitialized(_v!.ShapeArray, DType.Float32, g.Device);
        var (qa, qo) = Arr(_q); var (ka, ko) = Arr(_k); var (va, vo) = Arr(_v); var (oa, oo) = Arr(_o!); var (la, lo) = Arr(_lse!);
        var (ga, go) = Arr(gc);
        var m = mask?.ToArray<float>();
        AttentionKernels.Backward(shape, qa, qo, ka, ko, va, vo, m, oa, oo, la, lo, ga, go,
            (float[])((ManagedStorage)dq.Storage).Array, (float[])((ManagedStorage)dk.Storage).Array, (float[])((ManagedStorage)dv.Storage).Array);
        return [dq, dk, dv];
    }

    protected override void ReleaseSaved() { _q = _k = _v = _o = _lse = null; }
}
