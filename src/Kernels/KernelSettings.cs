using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

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

/// <summary>Process-wide kernel settings: degree of parallelism and the SIMD path, both chosen at run time.</summary>
public static class KernelSettings
{
    /// <summary>The widest SIMD level this CPU supports.</summary>
    public static readonly SimdLevel HardwareSimd = DetectSimd();

    private static int _dop = Math.Max(1, Environment.ProcessorCount);
    private static SimdLevel _simd = HardwareSimd;

    /// <summary>Number of worker threads every kernel splits its work into (default: all cores).
    /// Work is split statically, so results are bitwise identical run after run at a given value.</summary>
    public static int DegreeOfParallelism
    {
        get => _dop;
        set => _dop = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "DegreeOfParallelism must be at least 1.");
    }

    /// <summary>The SIMD level kernels use; can be lowered to force a fallback path (it is capped at <see cref="HardwareSimd"/>).</summary>
    public static SimdLevel Simd
    {
        get => _simd;
        set => _simd = value <= HardwareSimd ? value : HardwareSimd;
    }

    /// <summary>Temporarily forces a SIMD level and degree of parallelism; dispose to restore.</summary>
    public static IDisposable Override(SimdLevel? simd = null, int? degreeOfParallelism = null)
    {
        var old = (_simd, _dop);
        if (simd is { } s) Simd = s;
        if (degreeOfParallelism is { } d) DegreeOfParallelism = d;
        return new Restore(old);
    }

    private sealed class Restore((SimdLevel simd, int dop) old) : IDisposable
    {
        public void Dispose() { _simd = old.simd; _dop = old.dop; }
    }

    /// <summary>Whether the current SIMD level allows this width.</summary>
    public static bool Use512 => _simd >= SimdLevel.Vector512;
    /// <summary>Whether the current SIMD level allows this width.</summary>
    public static bool Use256 => _simd >= SimdLevel.Vector256;
    /// <summary>Whether the current SIMD level allows this width.</summary>
    public static bool Use128 => _simd >= SimdLevel.Vector128;

    private static SimdLevel DetectSimd()
    {
        var env = Environment.GetEnvironmentVariable("BITDISTILL_SIMD");
        SimdLevel hw;
        if (Vector512.IsHardwareAccelerated && Avx512F.IsSupported && Avx512BW.IsSupported && Fma.IsSupported) hw = SimdLevel.Vector512;
        else if (Vector256.IsHardwareAccelerated && Fma.IsSupported && Avx2.IsSupported) hw = SimdLevel.Vector256;
        else if (Vector128.IsHardwareAccelerated) hw = SimdLevel.Vector128;
        else hw = SimdLevel.Scalar;
        if (!string.IsNullOrEmpty(env) && Enum.TryParse<SimdLevel>(env, ignoreCase: true, out var forced) && forced < hw) hw = forced;
        return hw;
    }
}
