using BitDistill.Tensors;

namespace BitDistill.Autograd.Ops;

/// <summary>Cross-entropy of logits [N, C] against Int64 targets [N], mean over targets ≠ ignoreIndex, fused with
/// log-softmax. The forward forms dlogits = (softmax − onehot)/n_valid in the same pass as the log-sum-exp and keeps only
/// that; the backward scales it by the output gradient.</summary>
[Op("cross_entropy")]
internal sealed class CrossEntropyFn(Tensor? grad) : Function
{
    private Tensor? _grad = grad;

    public static Variable Apply(Variable logits, Tensor targets, long ignoreIndex)
    {
        if (logits.Rank != 2) throw new ArgumentException($"cross_entropy expects logits [N, C], got {Tensor.ShapeString(logits.Shape)}");
        int n = logits.Size(0), c = logits.Size(1);
        if (targets.Count != n) throw new ArgumentException($"cross_entropy: {targets.Count} targets for {n} rows of logits");
        var (t, valid) = CrossEntropyTargets.Read(targets, c, ignoreIndex);
        var x = logits.Value.Contiguous();
        bool recording = Recording(logits);
        // Recording: the gradient for an output gradient of 1 is formed now, with the same exp pass as the log-sum-exp, and
        // kept instead of the logits (backward only rescales it if the output gradient is not 1).
        var tt = Tensor.FromArray(t, [n], x.Device);
        Tensor lse; Tensor? grad = null;
        if (recording) (lse, grad) = x.Backend.CrossEntropyWithGrad(x, tt, ignoreIndex, 1f / Math.Max(1, valid));
        else lse = x.Backend.LogSumExp(x);
        float loss = x.Backend.CrossEntropyMeanLoss(x, lse, tt, ignoreIndex, valid);
        return Record(new CrossEntropyFn(grad), Tensor.Scalar(loss, logits.Value.Device), logits);
    }

    protected internal override Tensor?[] Backward(Tensor g, bool[] needs)
    {
        float go = g.Item();
        return [go == 1f ? _grad! : _grad! * go];
    }

    protected override void ReleaseSaved() { _grad = null; }
}
