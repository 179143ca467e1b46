using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace BitDistill.Kernels;

/// <summary>C = α·A·B for a narrow B (k×n with n a few SIMD widths, like the 8…64 columns per head of the attention-relation
/// gradient (G + Gᵀ)·A): each C row accumulates in registers over k, four rows at a time sharing every load of B. Sgemm's
/// packing and 16-wide micro-tiles spend most of their work on padding at n = 8 (3.5× slower there). Row-major, dense.</summary>
public static class NarrowGemm
{
    /// <summary>c[m×n] = alpha·a[m×k]·b[k×n] at the current SIMD level (<see cref="SimdLevel.Scalar"/> forces the reference).</summary>
    public static void Multiply(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int k, int n, float alpha)
    {
        if (m < 0 || k < 0 || n < 0 || a.Length < (long)m * k || b.Length < (long)k * n || c.Length < (long)m * n)
            throw new ArgumentException($"NarrowGemm: spans of {a.Length}, {b.Length}, {c.Length} floats for [{m}×{k}]·[{k}×{n}]");
        var level = KernelContext.Current.Simd;
        int done = 0;
        if (level >= SimdLevel.Vector256) done = Columns256(a, b, c, m, k, n, alpha, done);
        if (level >= SimdLevel.Vector128) done = Columns128(a, b, c, m, k, n, alpha, done); // d = 4 (and the rest of 12, 20, …)
        if (done < n) Reference(a, b, c, m, k, n, alpha, done);
    }

    /// <summary>The plain triple loop (columns from <paramref name="firstColumn"/> on), summing over k in order.</summary>
    public static void Reference(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int k, int n, float alpha, int firstColumn = 0)
    {
        for (int i = 0; i < m; i++)
            for (int col = firstColumn; col < n; col++)
            {
                float s = 0;
                for (int j = 0; j < k; j++) s = MathF.FusedMultiplyAdd(a[i * k + j], b[j * n + col], s);
                c[i * n + col] = alpha * s;
            }
    }

    // the columns from `first` on that whole 8-lane vectors cover; returns where they end
    private static int Columns256(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int k, int n, float alpha, int first)
    {
        ref float ra = ref MemoryMarshal.GetReference(a); ref float rb = ref MemoryMarshal.GetReference(b); ref float rc = ref MemoryMarshal.GetReference(c);
        var va = Vector256.Create(alpha);
        int c0 = first;
        for (; c0 + 8 <= n; c0 += 8)
        {
            int i = 0;
            for (; i + 4 <= m; i += 4)
            {
                Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default;
                ref float a0 = ref Unsafe.Add(ref ra, i * k);
                for (int j = 0; j < k; j++)
                {
                    var bv = Vector256.LoadUnsafe(ref rb, (nuint)(j * n + c0));
                    s0 = Vector256.FusedMultiplyAdd(Vector256.Create(Unsafe.Add(ref a0, j)), bv, s0);
                    s1 = Vector256.FusedMultiplyAdd(Vector256.Create(Unsafe.Add(ref a0, k + j)), bv, s1);
                    s2 = Vector256.FusedMultiplyAdd(Vector256.Create(Unsafe.Add(ref a0, 2 * k + j)), bv, s2);
                    s3 = Vector256.FusedMultiplyAdd(Vector256.Create(Unsafe.Add(ref a0, 3 * k + j)), bv, s3);
                }
                (s0 * va).StoreUnsafe(ref rc, (nuint)(i * n + c0));
                (s1 * va).StoreUnsafe(ref rc, (nuint)((i + 1) * n + c0));
                (s2 * va).StoreUnsafe(ref rc, (nuint)((i + 2) * n + c0));
                (s3 * va).StoreUnsafe(ref rc, (nuint)((i + 3) * n + c0));
            }
            for (; i < m; i++)
            {
                Vector256<float> s0 = default;
                for (int j = 0; j < k; j++)
                    s0 = Vector256.FusedMultiplyAdd(Vector256.Create(Unsafe.Add(ref ra, i * k + j)), Vector256.LoadUnsafe(ref rb, (nuint)(j * n + c0)), s0);
                (s0 * va).StoreUnsafe(ref rc, (nuint)(i * n + c0));
            }
        }
        return c0;
    }

    private static int Columns128(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int k, int n, float alpha, int first)
    {
        ref float ra = ref MemoryMarshal.GetReference(a); ref float rb = ref MemoryMarshal.GetReference(b); ref float rc = ref MemoryMarshal.GetReference(c);
        var va = Vector128.Create(alpha);
        int c0 = first;
        for (; c0 + 4 <= n; c0 += 4)
        {
            int i = 0;
            for (; i + 4 <= m; i += 4)
            {
                Vector128<float> s0 = default, s1 = default, s2 = default, s3 = default;
                ref float a0 = ref Unsafe.Add(ref ra, i * k);
                for (int j = 0; j < k; j++)
                {
                    var bv = Vector128.LoadUnsafe(ref rb, (nuint)(j * n + c0));
                    s0 = Vector128.FusedMultiplyAdd(Vector128.Create(Unsafe.Add(ref a0, j)), bv, s0);
                    s1 = Vector128.FusedMultiplyAdd(Vector128.Create(Unsafe.Add(ref a0, k + j)), bv, s1);
                    s2 = Vector128.FusedMultiplyAdd(Vector128.Create(Unsafe.Add(ref a0, 2 * k + j)), bv, s2);
                    s3 = Vector128.FusedMultiplyAdd(Vector128.Create(Unsafe.Add(ref a0, 3 * k + j)), bv, s3);
                }
                (s0 * va).StoreUnsafe(ref rc, (nuint)(i * n + c0));
                (s1 * va).StoreUnsafe(ref rc, (nuint)((i + 1) * n + c0));
                (s2 * va).StoreUnsafe(ref rc, (nuint)((i + 2) * n + c0));
                (s3 * va).StoreUnsafe(ref rc, (nuint)((i + 3) * n + c0));
            }
            for (; i < m; i++)
            {
                Vector128<float> s0 = default;
                for (int j = 0; j < k; j++)
                    s0 = Vector128.FusedMultiplyAdd(Vector128.Create(Unsafe.Add(ref ra, i * k + j)), Vector128.LoadUnsafe(ref rb, (nuint)(j * n + c0)), s0);
                (s0 * va).StoreUnsafe(ref rc, (nuint)(i * n + c0));
            }
        }
        return c0;
    }
}
