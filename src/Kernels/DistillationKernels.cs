using System.Numerics.Tensors;

namespace BitDistill.Kernels;

/// <summary>Row kernels of the distillation losses (each with its scalar reference): the τ-tempered KL of one row of
/// student and teacher logits and its gradient. <see cref="SimdLevel.Scalar"/> forces the reference loops.</summary>
public static class DistillationKernels
{
    /// <summary>KL(softmax(t/τ) ‖ softmax(s/τ)) of one row of student logits <paramref name="s"/> and teacher logits
    /// <paramref name="t"/> (both overwritten: s receives the gradient <paramref name="gradScale"/>·(p_S − p_T), t is
    /// scratch); <paramref name="scratch"/> holds at least as many floats as the row. Returns the row's KL (not scaled by
    /// τ² or gradScale). Computed as Σ p_T·d + log Σ_S − log Σ_T with d the difference of the max-shifted tempered logits,
    /// so no log-probability row is formed and the small KL of close distributions is not a difference of large sums.</summary>
    public static float TemperedKlAndGrad(Span<float> s, Span<float> t, float invTau, float gradScale, Span<float> scratch)
    {
        if (KernelContext.Current.Simd < SimdLevel.Vector128) return TemperedKlAndGradReference(s, t, invTau, gradScale, scratch);
        int n = s.Length;
        var d = scratch[..n];
        float ms = TensorPrimitives.Max(s), mt = TensorPrimitives.Max(t);
        TensorPrimitives.Subtract(s, ms, s); TensorPrimitives.Multiply(s, invTau, s);
        TensorPrimitives.Subtract(t, mt, t); TensorPrimitives.Multiply(t, invTau, t);
        TensorPrimitives.Subtract(t, s, d);
        TensorPrimitives.Exp(s, s); TensorPrimitives.Exp(t, t);
        float sumS = TensorPrimitives.Sum(s), sumT = TensorPrimitives.Sum(t);
        float kl = TensorPrimitives.Dot(t, d) / sumT + MathF.Log(sumS / sumT);
        // g = gradScale·(e_S/Σ_S − e_T/Σ_T)
        TensorPrimitives.Multiply(s, gradScale / sumS, s);
        TensorPrimitives.MultiplyAdd(t, -gradScale / sumT, s, s);
        return kl;
    }

    /// <summary>The scalar definition of <see cref="TemperedKlAndGrad"/>, in the same form: max-shifted tempered rows
    /// a = (s − max s)/τ and b = (t − max t)/τ, KL = Σ p_T·(b − a) + log Σ e^a − log Σ e^b, gradient gradScale·(p_S − p_T).</summary>
    public static float TemperedKlAndGradReference(Span<float> s, Span<float> t, float invTau, float gradScale, Span<float> scratch)
    {
        int n = s.Length;
        float ms = float.NegativeInfinity, mt = float.NegativeInfinity;
        for (int i = 0; i < n; i++) { ms = MathF.Max(ms, s[i]); mt = MathF.Max(mt, t[i]); }
        double sumS = 0, sumT = 0; // double sums: the KL of close rows is a small difference of these logs
        for (int i = 0; i < n; i++)
        {
            float a = (s[i] - ms) * invTau, b = (t[i] - mt) * invTau;
            scratch[i] = b - a;
            s[i] = MathF.Exp(a); t[i] = MathF.Exp(b);
            sumS += s[i]; sumT += t[i];
        }
        double dot = 0;
        for (int i = 0; i < n; i++) dot += t[i] * scratch[i];
        float invS = (float)(1 / sumS), invT = (float)(1 / sumT);
        for (int i = 0; i < n; i++) s[i] = gradScale * (s[i] * invS - t[i] * invT);
        return (float)(dot / sumT + Math.Log(sumS / sumT));
    }

    /// <summary>KL(softmax(t) ‖ softmax(s)) of one row of attention-relation scores (student <paramref name="s"/>, teacher
    /// <paramref name="t"/>, both overwritten: s receives softmax(s) − softmax(t), the gradient w.r.t. the student scores, t
    /// is scratch; <paramref name="scratch"/> holds at least as many floats as the row). Computed in the shifted form
    /// Σ p_T·(t − s) − m_T − log Σ_T + m_S + log Σ_S, so no log-softmax rows are subtracted. Masked entries carry a large
    /// negative score in both rows and contribute nothing.</summary>
    public static double RelationKlAndGrad(Span<float> s, Span<float> t, Span<float> scratch)
    {
        if (KernelContext.Current.Simd < SimdLevel.Vector128) return RelationKlAndGradReference(s, t, scratch);
        var d = scratch[..s.Length];
        float ms = TensorPrimitives.Max(s), mt = TensorPrimitives.Max(t);
        TensorPrimitives.Subtract(t, s, d);
        // exps and their float SIMD sums in one pass each (as the logits KL above); the row terms are combined in double
        double sumT = SoftmaxRows.ExpShiftSum(t, mt), sumS = SoftmaxRows.ExpShiftSum(s, ms), cross = TensorPrimitives.Dot(t, d);
        double kl = cross / sumT - mt - Math.Log(sumT) + ms + Math.Log(sumS);
        TensorPrimitives.Multiply(s, (float)(1 / sumS), s);
        TensorPrimitives.MultiplyAdd(t, (float)(-1 / sumT), s, s);
        return kl;
    }

    /// <summary>The scalar definition of <see cref="RelationKlAndGrad"/>: the same shifted form with double sums.</summary>
    public static double RelationKlAndGradReference(Span<float> s, Span<float> t, Span<float> scratch)
    {
        int n = s.Length;
        float ms = float.NegativeInfinity, mt = float.NegativeInfinity;
        for (int i = 0; i < n; i++) { ms = MathF.Max(ms, s[i]); mt = MathF.Max(mt, t[i]); }
        double sumT = 0, sumS = 0, cross = 0;
        for (int i = 0; i < n; i++)
        {
            scratch[i] = t[i] - s[i];
            t[i] = MathF.Exp(t[i] - mt); s[i] = MathF.Exp(s[i] - ms);
            sumT += t[i]; sumS += s[i]; cross += (double)t[i] * scratch[i];
        }
        double kl = cross / sumT - mt - Math.Log(sumT) + ms + Math.Log(sumS);
        float invS = (float)(1 / sumS), invT = (float)(1 / sumT);
        for (int i = 0; i < n; i++) s[i] = s[i] * invS - t[i] * invT;
        return kl;
    }
}
