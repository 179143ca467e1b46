namespace BitDistill.Kernels;

/// <summary>The widest SIMD instruction family a kernel may use.</summary>
public enum SimdLevel
{
    /// <summary>Plain scalar loops (the reference behaviour, any CPU).</summary>
    Scalar = 0,
    /// <summary>128-bit vectors (SSE / ARM NEON).</summary>
    Vector128 = 1,
    /// <summary>256-bit vectors (AVX2 + FMA).</summary>
    Vector256 = 2,
    /// <summary>512-bit vectors (AVX-512F/BW).</summary>
    Vector512 = 3,
}
