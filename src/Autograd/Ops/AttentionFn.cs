using BitDistill.Kernels;
using BitDistill.Tensors;

namespace BitDistill.Autograd.Ops;

/// <summary>Causal scaled-dot-product attention with grouped-query heads and an optional key padding mask, fused by the
/// backend (<see cref="IBackend.Attention"/>): saves q, k, v, the output and one log-sum-exp per row, never the probabilities.</summary>
[Op("sdpa")]
internal sealed class AttentionFn(AttentionShape shape, Tensor q, Tensor k, Tensor v, Tensor? mask, Tensor o, Tensor lse) : Function
{
    private Tensor? _q = q, _k = k, _v = v, _o = o, _lse = lse;

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
        // Recording keeps contiguous copies for the backward; inference lets the backend read K/V views (a KV cache's
        // filled prefix) in place.
        var kc = save ? k.Value.Contiguous() : k.Value; var vc = save ? v.Value.Contiguous() : v.Value;
        var mt = keyPaddingMask?.To(DType.Float32).Contiguous();
        var (o, lse) = qc.Backend.Attention(shape, qc, kc, vc, mt);
        return Record(new AttentionFn(shape, save ? qc : null!, save ? kc : null!, save ? vc : null!, mt, o, save ? lse : null!), o, q, k, v);
    }

    protected internal override Tensor?[] Backward(Tensor g, bool[] needs)
    {
        var (dq, dk, dv) = g.Backend.AttentionBackward(shape, _q!, _k!, _v!, mask, _o!, _lse!, g);
        return [dq, dk, dv];
    }

    protected override void ReleaseSaved() { _q = _k = _v = _o = _lse = null; }
}
