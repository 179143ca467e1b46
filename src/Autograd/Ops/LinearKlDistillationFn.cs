using BitDistill.Tensors;

namespace BitDistill.Autograd.Ops;

/// <summary>Logits distillation fused with the LM heads: τ²·KL(softmax(z_T/τ) ‖ softmax(z_S/τ)), z_S = h_S·W_Sᵀ and
/// z_T = h_T·W_Tᵀ, batchmean over the rows a mask keeps (<see cref="IBackend.LinearKlDistillation"/>: on the CPU neither
/// [N, V] logits tensor is materialised). The teacher's hidden states and head are constants (no gradient); the forward
/// keeps only the student's dh and dW, which the backward scales by the output gradient. For non-float32 operands it is
/// <see cref="KlDivFn"/> on materialised logits.</summary>
[Op("linear_kl_distillation")]
internal sealed class LinearKlDistillationFn(Tensor? dh, Tensor? dw) : Function
{
    private Tensor? _dh = dh, _dw = dw;

    public static Variable Apply(Variable studentHidden, Variable studentWeight, Tensor teacherHidden, Tensor teacherWeight, float tau, Tensor? rowMask)
    {
        var hv = studentHidden.Value; var wv = studentWeight.Value;
        if (hv.DType != DType.Float32 || wv.DType != DType.Float32 || teacherHidden.DType != DType.Float32 || teacherWeight.DType != DType.Float32)
            return KlDivFn.Apply(studentHidden.MatMul(studentWeight.T), new Variable(teacherHidden.MatMul(teacherWeight.T)), tau, rowMask);
        bool recording = Recording(studentHidden, studentWeight);
        var r = hv.Backend.LinearKlDistillation(hv, wv, teacherHidden, teacherWeight, rowMask, tau, recording);
        return Record(new LinearKlDistillationFn(r.StudentHiddenGrad, r.StudentWeightGrad), Tensor.Scalar(r.Loss, hv.Device), studentHidden, studentWeight);
    }

    protected internal override Tensor?[] Backward(Tensor g, bool[] needs)
    {
        float go = g.Item();
        return [needs[0] ? (go == 1f ? _dh! : _dh! * go) : null, needs[1] ? (go == 1f ? _dw! : _dw! * go) : null];
    }

    protected override void ReleaseSaved() { _dh = _dw = null; }
}
