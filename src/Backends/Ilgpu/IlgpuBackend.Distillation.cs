using BitDistill.Tensors;

namespace BitDistill.Backends.Ilgpu;

// The distillation losses on the device: the logits by device SGEMM, then one row kernel for each row's loss and gradient
// row (IlgpuKernels.Distillation), the kept-row counts and the mean computed there too, so each call reads back only its
// loss (one host read; CE + λ·LD reads its two losses in one copy).
public sealed partial class IlgpuBackend
{
    public LinearKlDistillationResult LinearKlDistillation(Tensor studentHidden, Tensor studentWeight, Tensor teacherHidden, Tensor teacherWeight,
        Tensor? rowMask, float tau, bool withGrad)
    {
        int n = DistillationArguments.ValidateLinearKl(studentHidden, studentWeight, teacherHidden, teacherWeight, rowMask, tau);
        var (hs, ws, ht, wt) = (Dense(studentHidden), Dense(studentWeight), Dense(teacherHidden), Dense(teacherWeight));
        int k = hs.Size(1), c = ws.Size(0);
        if (n == 0 || c == 0) return new LinearKlDistillationResult(0f, withGrad ? New([n, k]) : null, withGrad ? New([c, k]) : null);
        // fresh logits: the row kernel overwrites the student's with the gradient G = τ/kept·(p_S − p_T)
        var zs = hs.MatMul(ws.T); var zt = ht.MatMul(wt.T);
        var mask = rowMask is null ? null : Dense(rowMask);
        var maskView = mask is null ? Dummy : Vc(mask);
        var count = New([1]); var rowKl = New([n]); var loss = New([1]);
        _k.KeptCount(maskView, n, mask is null ? 0 : 1, 1f, V(count));
        _k.TemperedKlRows(n, V(zs), V(zt), maskView, V(count), V(rowKl), c, 1f / tau, tau, mask is null ? 0 : 1, withGrad ? 1 : 0);
        _k.LossMean(V(rowKl), n, V(count), 0f, tau * tau, V(loss), 0);
        // the gradient products are launched before the read, so the device works on them while the host waits for the loss
        Tensor? dh = withGrad ? zs.MatMul(ws) : null, dw = withGrad ? zs.T.MatMul(hs) : null;
        return new LinearKlDistillationResult(loss.Item(), dh, dw);
    }

    public LinearCrossEntropyWithDistillationResult LinearCrossEntropyWithDistillation(Tensor hidden, Tensor weight, Tensor targets, long ignoreIndex,
        int validCount, Tensor teacherHidden, Tensor teacherWeight, float tau, float logitsWeight, bool withGrad)
    {
        int n = DistillationArguments.ValidateLinearKl(hidden, weight, teacherHidden, teacherWeight, null, tau);
        if (targets.Count != n) throw new ArgumentException($"linear_cross_entropy_with_distillation: {targets.Count} targets for {n} rows");
        var (hs, ws, ht, wt) = (Dense(hidden), Dense(weight), Dense(teacherHidden), Dense(teacherWeight));
        int k = hs.Size(1), c = ws.Size(0);
        float ceEmpty = validCount == 0 ? float.NaN : 0f;
        if (n == 0 || c == 0) return new LinearCrossEntropyWithDistillationResult(ceEmpty, 0f, withGrad ? New([n, k]) : null, withGrad ? New([c, k]) : null);
        var t = targets.To(DType.Int64).Contiguous();
        if (t.Device != Device) t = t.To(Device);
        var tv = S(t).View<long>().SubView(t.Offset, n);
        // the student's logits once for both losses; the row kernel leaves G = ∂(CE + λ·LD)/∂z_S in them
        var zs = hs.MatMul(ws.T); var zt = ht.MatMul(wt.T);
        var count = New([1]); var ceRows = New([n]); var klRows = New([n]); var losses = New([2]);
        _k.TargetCount(tv, n, ignoreIndex, V(count));
        _k.LinearCeKlRows(n, V(zs), V(zt), tv, V(count), V(ceRows), V(klRows), c, ignoreIndex, 1f / tau, tau, 1f / Math.Max(1, validCount), logitsWeight, withGrad ? 1 : 0);
        _k.LossMean(V(ceRows), n, V(count), validCount, 1f, V(losses), 0);
        _k.LossMean(V(klRows), n, V(count), 0f, tau * tau, V(losses), 1);
        Tensor? dh = withGrad ? zs.MatMul(ws) : null, dw = withGrad ? zs.T.MatMul(hs) : null;
        var both = losses.ToArray<float>(); // the one read: both losses
        return new LinearCrossEntropyWithDistillationResult(validCount == 0 ? float.NaN : both[0], both[1], dh, dw);
    }

    public (float Loss, Tensor? Grad) AttentionRelationKl(Tensor student, Tensor teacher, Tensor? tokenMask, float studentScale, float teacherScale, bool withGrad)
    {
        DistillationArguments.ValidateRelation(student, teacher, tokenMask);
        int b = student.Size(0), r = student.Size(1), t = student.Size(2), ds = student.Size(3), dt = teacher.Size(3);
        var grad = withGrad ? New([b, r, t, ds]) : null;
        int rows = b * r * t;
        if (rows == 0) return (0f, grad);
        var (a, at) = (Dense(student), Dense(teacher));
        var mask = tokenMask is null ? null : Dense(tokenMask);
        var maskView = mask is null ? Dummy : Vc(mask);
        var dims = new RelationDims
        {
            Batch = b, Heads = r, T = t, StudentDim = ds, TeacherDim = dt, HasMask = mask is null ? 0 : 1, WithGrad = withGrad ? 1 : 0,
            StudentScale = studentScale, TeacherScale = teacherScale,
        };
        // the divisor R × kept tokens (R·B·T without a mask), the rows' KLs and, for the gradient, G = p_S − p_T per relation row
        var count = New([1]); var rowKl = New([rows]); var loss = New([1]);
        var g = withGrad ? New([rows, t]) : null;
        _k.KeptCount(maskView, b * t, mask is null ? 0 : 1, r, V(count));
        _k.RelationRows(rows, Vc(a), Vc(at), maskView, V(rowKl), g is null ? Dummy : V(g), dims);
        _k.LossMean(V(rowKl), rows, V(count), 0f, 1f, V(loss), 0);
        if (grad is not null && grad.Count > 0) _k.RelationGrad(grad.Count, Vc(a), V(g!), V(count), V(grad), dims);
        return (loss.Item(), grad);
    }
}
