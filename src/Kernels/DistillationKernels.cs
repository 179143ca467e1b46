using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

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
        var level = KernelContext.Current.Simd;
        if (level < SimdLevel.Vector128) return RelationKlAndGradReference(s, t, scratch);
        // rows are short (one per query, T keys): one fused loop per pass instead of seven span calls, whose fixed cost
        // was most of the time at T = 256
        if (level >= SimdLevel.Vector512 && s.Length >= Vector512<float>.Count) return RelationKlAndGrad512(s, t);
        if (level >= SimdLevel.Vector256 && s.Length >= Vector256<float>.Count) return RelationKlAndGrad256(s, t);
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

    private static double RelationKlAndGrad512(Span<float> s, Span<float> t)
    {
        int n = s.Length, j = 0;
        ref float rs = ref MemoryMarshal.GetReference(s); ref float rt = ref MemoryMarshal.GetReference(t);
        var vms = Vector512.Create(float.NegativeInfinity); var vmt = vms;
        for (; j <= n - Vector512<float>.Count; j += Vector512<float>.Count)
        {
            vms = Vector512.MaxNative(vms, Vector512.LoadUnsafe(ref rs, (nuint)j));
            vmt = Vector512.MaxNative(vmt, Vector512.LoadUnsafe(ref rt, (nuint)j));
        }
        float ms = float.NegativeInfinity, mt = float.NegativeInfinity;
        for (int l = 0; l < Vector512<float>.Count; l++) { ms = MathF.Max(ms, vms[l]); mt = MathF.Max(mt, vmt[l]); }
        for (int k = j; k < n; k++) { ms = MathF.Max(ms, s[k]); mt = MathF.Max(mt, t[k]); }
        var shS = Vector512.Create(ms); var shT = Vector512.Create(mt);
        var accS = Vector512<float>.Zero; var accT = accS; var accC = accS;
        for (j = 0; j <= n - Vector512<float>.Count; j += Vector512<float>.Count)
        {
            var vs = Vector512.LoadUnsafe(ref rs, (nuint)j); var vt = Vector512.LoadUnsafe(ref rt, (nuint)j);
            var es = FastExp.Exp(vs - shS); var et = FastExp.Exp(vt - shT);
            accS += es; accT += et; accC = Vector512.FusedMultiplyAdd(et, vt - vs, accC);
            es.StoreUnsafe(ref rs, (nuint)j); et.StoreUnsafe(ref rt, (nuint)j);
        }
        var (kl, invS, invT) = FinishRelationRow(s, t, j, ms, mt, Vector512.Sum(accS), Vector512.Sum(accT), Vector512.Sum(accC));
        var vS = Vector512.Create(invS); var vT = Vector512.Create(-invT);
        for (j = 0; j <= n - Vector512<float>.Count; j += Vector512<float>.Count)
            Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref rt, (nuint)j), vT, Vector512.LoadUnsafe(ref rs, (nuint)j) * vS).StoreUnsafe(ref rs, (nuint)j);
        for (; j < n; j++) s[j] = MathF.FusedMultiplyAdd(t[j], -invT, s[j] * invS);
        return kl;
    }

    private static double RelationKlAndGrad256(Span<float> s, Span<float> t)
    {
        int n = s.Length, j = 0;
        ref float rs = ref MemoryMarshal.GetReference(s); ref float rt = ref MemoryMarshal.GetReference(t);
        var vms = Vector256.Create(float.NegativeInfinity); var vmt = vms;
        for (; j <= n - Vector256<float>.Count; j += Vector256<float>.Count)
        {
            vms = Vector256.MaxNative(vms, Vector256.LoadUnsafe(ref rs, (nuint)j));
            vmt = Vector256.MaxNative(vmt, Vector256.LoadUnsafe(ref rt, (nuint)j));
        }
        float ms = float.NegativeInfinity, mt = float.NegativeInfinity;
        for (int l = 0; l < Vector256<float>.Count; l++) { ms = MathF.Max(ms, vms[l]); mt = MathF.Max(mt, vmt[l]); }
        for (int k = j; k < n; k++) { ms = MathF.Max(ms, s[k]); mt = MathF.Max(mt, t[k]); }
        var shS = Vector256.Create(ms); var shT = Vector256.Create(mt);
        var accS = Vector256<float>.Zero; var accT = accS; var accC = accS;
        for (j = 0; j <= n - Vector256<float>.Count; j += Vector256<float>.Count)
        {
            var vs = Vector256.LoadUnsafe(ref rs, (nuint)j); var vt = Vector256.LoadUnsafe(ref rt, (nuint)j);
            var es = FastExp.Exp(vs - shS); var et = FastExp.Exp(vt - shT);
            accS += es; accT += et; accC = Vector256.FusedMultiplyAdd(et, vt - vs, accC);
            es.StoreUnsafe(ref rs, (nuint)j); et.StoreUnsafe(ref rt, (nuint)j);
        }
        var (kl, invS, invT) = FinishRelationRow(s, t, j, ms, mt, Vector256.Sum(accS), Vector256.Sum(accT), Vector256.Sum(accC));
        var vS = Vector256.Create(invS); var vT = Vector256.Create(-invT);
        for (j = 0; j <= n - Vector256<float>.Count; j += Vector256<float>.Count)
            Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref rt, (nuint)j), vT, Vector256.LoadUnsafe(ref rs, (nuint)j) * vS).StoreUnsafe(ref rs, (nuint)j);
        for (; j < n; j++) s[j] = MathF.FusedMultiplyAdd(t[j], -invT, s[j] * invS);
        return kl;
    }

    // the scalar tail of the exp pass from j, and the row's KL and 1/Σ_S, 1/Σ_T from the sums (the caller then writes the
    // gradient e_S/Σ_S − e_T/Σ_T in one vector pass)
    private static (double Kl, float InvS, float InvT) FinishRelationRow(Span<float> s, Span<float> t, int j, float ms, float mt, double sumS, double sumT, double cross)
    {
        for (int k = j; k < s.Length; k++)
        {
            float es = MathF.Exp(s[k] - ms), et = MathF.Exp(t[k] - mt);
            cross += (double)et * (t[k] - s[k]);
            s[k] = es; t[k] = et; sumS += es; sumT += et;
        }
        return (cross / sumT - mt - Math.Log(sumT) + ms + Math.Log(sumS), (float)(1 / sumS), (float)(1 / sumT));
    }

    /// <summary>g ← g + gᵀ for a square n×n row-major matrix (the relation gradient w.r.t. A·Aᵀ folded onto one side), in
    /// 16×16 tiles so the column reads stay in L1 (the plain loop's stride-n reads cost as much as the gradient GEMM at n = 256).
    /// <see cref="SimdLevel.Scalar"/> forces the reference.</summary>
    public static void AddTransposeInPlace(Span<float> g, int n)
    {
        if (g.Length < (long)n * n) throw new ArgumentException($"AddTransposeInPlace: {g.Length} floats for a {n}×{n} matrix");
        if (KernelContext.Current.Simd == SimdLevel.Scalar) { AddTransposeInPlaceReference(g, n); return; }
        const int Tile = 16;
        ref float r = ref MemoryMarshal.GetReference(g); // bounds checked once above
        for (int i0 = 0; i0 < n; i0 += Tile)
        {
            int i1 = Math.Min(n, i0 + Tile);
            // the diagonal tile: its upper triangle against its lower one
            for (int i = i0; i < i1; i++)
            {
                Unsafe.Add(ref r, i * n + i) *= 2;
                for (int j = i + 1; j < i1; j++) Pair(ref r, i * n + j, j * n + i);
            }
            for (int j0 = i1; j0 < n; j0 += Tile)
            {
                int j1 = Math.Min(n, j0 + Tile);
                for (int i = i0; i < i1; i++)
                    for (int j = j0; j < j1; j++) Pair(ref r, i * n + j, j * n + i);
            }
        }
        static void Pair(ref float r, int a, int b)
        {
            float v = Unsafe.Add(ref r, a) + Unsafe.Add(ref r, b);
            Unsafe.Add(ref r, a) = v; Unsafe.Add(ref r, b) = v;
        }
    }

    /// <summary>The plain definition of <see cref="AddTransposeInPlace"/>.</summary>
    public static void AddTransposeInPlaceReference(Span<float> g, int n)
    {
        for (int i = 0; i < n; i++)
        {
            g[i * n + i] *= 2;
            for (int j = i + 1; j < n; j++) { float v = g[i * n + j] + g[j * n + i]; g[i * n + j] = v; g[j * n + i] = v; }
        }
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
