using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace BitDistill.Kernels;

/// <summary>Everything a kernel is told from outside, as one immutable value: SIMD level, degree of parallelism and tuning knobs.</summary>
/// <remarks>
/// <para><see cref="Default"/> is the process default (hardware detection, capped by the <c>BITDISTILL_SIMD</c> environment
/// variable); an application may replace it once at start-up, e.g. <c>KernelContext.Default = KernelContext.Default with
/// { DegreeOfParallelism = 1 }</c>. <see cref="Current"/> is what kernels on the calling thread use: the context installed on
/// this thread by <see cref="Use"/> or <see cref="Override"/>, else <see cref="Default"/>. An override is thread-local (it does
/// not flow across <c>await</c>; dispose it on the thread that installed it), so code on other threads never sees it — except
/// the kernel worker threads, which run each chunk of a parallel kernel under the context of the thread that dispatched it.</para>
/// <para>Kernels read <see cref="Current"/> once per call and pass what they need down, never inside inner loops.
/// Work is split statically, so at a given context results are bitwise identical run after run.</para>
/// </remarks>
public sealed record KernelContext
{
    /// <summary>The widest SIMD level this CPU supports (lowered by the <c>BITDISTILL_SIMD</c> environment variable if set).</summary>
    public static SimdLevel HardwareSimd { get; } = DetectSimd();

    private static volatile KernelContext s_default = new();
    [ThreadStatic] private static KernelContext? t_current;

    private readonly SimdLevel _simd = HardwareSimd;
    private readonly int _dop = Math.Max(1, Environment.ProcessorCount);
    // 6×16 at 256 bits: KC 384 keeps the B micro-panel at 24 KB (L1 of 32 KB and up), MC 144 the A block at 216 KB (L2), NC 1024
    // the B block at 1.5 MB; about 2 % faster than (256, 96, 512) on Zen 4/5, where NC 512 also re-packed A twice as often.
    private readonly SgemmBlocking _sgemm512 = new(512, 96, 1536), _sgemm256 = new(384, 144, 1024), _sgemm128 = new(256, 96, 512);

    /// <summary>The process-wide default: what every thread without an override uses. Meant to be set by an application at
    /// start-up (the CLI, a benchmark); a library should install a scoped override with <see cref="Use"/> instead.</summary>
    public static KernelContext Default
    {
        get => s_default;
        set => s_default = value ?? throw new ArgumentNullException(nameof(value));
    }

    /// <summary>The context kernels called on this thread use: this thread's override if one is installed, else <see cref="Default"/>.</summary>
    public static KernelContext Current => t_current ?? s_default;

    /// <summary>Installs <paramref name="context"/> as this thread's <see cref="Current"/> until the returned scope is disposed
    /// (on the same thread); scopes nest.</summary>
    public static Scope Use(KernelContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var previous = t_current;
        t_current = context;
        return new Scope(previous, context);
    }

    /// <summary>Installs <see cref="Current"/> with the given SIMD level and/or degree of parallelism changed, on this thread only;
    /// dispose to restore.</summary>
    public static Scope Override(SimdLevel? simd = null, int? degreeOfParallelism = null)
    {
        var c = Current;
        if (simd is { } s) c = c with { Simd = s };
        if (degreeOfParallelism is { } d) c = c with { DegreeOfParallelism = d };
        return Use(c);
    }

    /// <summary>The worker threads' hook: runs a job's chunk under the dispatching thread's context (no checks, no allocation).</summary>
    internal static KernelContext? Exchange(KernelContext? context)
    {
        var previous = t_current;
        t_current = context;
        return previous;
    }

    /// <summary>The SIMD level kernels use; a level above <see cref="HardwareSimd"/> is lowered to it.</summary>
    public SimdLevel Simd
    {
        get => _simd;
        init => _simd = value <= HardwareSimd ? value : HardwareSimd;
    }

    /// <summary>Number of threads every kernel splits its work into (default: all cores). Work is split statically, so results
    /// are bitwise identical run after run at a given value.</summary>
    public int DegreeOfParallelism
    {
        get => _dop;
        init => _dop = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "DegreeOfParallelism must be at least 1.");
    }

    /// <summary>SGEMM cache blocking on the 512-bit path (8×32 micro-kernel).</summary>
    public SgemmBlocking SgemmBlocking512 { get => _sgemm512; init => _sgemm512 = Valid(value); }
    /// <summary>SGEMM cache blocking on the 256-bit path (6×16 micro-kernel).</summary>
    public SgemmBlocking SgemmBlocking256 { get => _sgemm256; init => _sgemm256 = Valid(value); }
    /// <summary>SGEMM cache blocking on the 128-bit path (6×8 micro-kernel).</summary>
    public SgemmBlocking SgemmBlocking128 { get => _sgemm128; init => _sgemm128 = Valid(value); }

    /// <summary>Whether threads that split an SGEMM by rows pack each block of B once, together (otherwise each packs all of B).</summary>
    public bool SgemmSharedPacking { get; init; } = true;

    /// <summary>Use AVX-VNNI (vpdpbusd) on the 256-bit ternary path where the CPU has it.</summary>
    public bool TernaryAvxVnni { get; init; } = AvxVnni.IsSupported;

    /// <summary>Ternary products with at least this many activation rows (training batches, prompt prefill) run as an SGEMM on
    /// the exact integer values (int8 activations and ternary codes as floats): every partial sum is an integer below 2²⁴
    /// (K·127 is checked), so the float result equals the int32 kernel's bit for bit, at the SGEMM's speed, which is several
    /// times that of the int8 kernels without VNNI at these sizes. <see cref="int.MaxValue"/> keeps every product on the
    /// int8 kernels.</summary>
    public int TernarySgemmMinRows { get; init; } = 64;

    /// <summary>Run the portable Vector128 paths of the ternary and INT8 products (what a CPU without SSSE3/SSE4.1, e.g. ARM,
    /// runs) instead of the x86 ones, so tests on x86 cover them.</summary>
    public bool Portable128 { get; init; }

    /// <summary>Whether <see cref="Simd"/> allows 512-bit vectors.</summary>
    public bool Use512 => _simd >= SimdLevel.Vector512;
    /// <summary>Whether <see cref="Simd"/> allows 256-bit vectors.</summary>
    public bool Use256 => _simd >= SimdLevel.Vector256;
    /// <summary>Whether <see cref="Simd"/> allows 128-bit vectors.</summary>
    public bool Use128 => _simd >= SimdLevel.Vector128;

    /// <summary>The SGEMM blocking of a SIMD level (null at <see cref="SimdLevel.Scalar"/>, which has no packed path).</summary>
    public SgemmBlocking? SgemmBlockingFor(SimdLevel level) => level switch
    {
        SimdLevel.Vector512 => _sgemm512,
        SimdLevel.Vector256 => _sgemm256,
        SimdLevel.Vector128 => _sgemm128,
        _ => null,
    };

    private static SgemmBlocking Valid(SgemmBlocking b) =>
        b.IsValid ? b : throw new ArgumentException("An SGEMM blocking needs KC, MC and NC of at least 1 (default(SgemmBlocking) is not one).", nameof(b));

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

    /// <summary>An installed override; disposing it (on the thread that installed it) puts the previous context back.</summary>
    public readonly struct Scope : IDisposable
    {
        private readonly KernelContext? _previous;
        private readonly KernelContext? _installed;
        private readonly int _thread;

        internal Scope(KernelContext? previous, KernelContext installed)
        {
            _previous = previous;
            _installed = installed;
            _thread = Environment.CurrentManagedThreadId;
        }

        /// <summary>Restores the context that was current when this scope was installed.</summary>
        public void Dispose()
        {
            if (_installed is null) return;
            if (Environment.CurrentManagedThreadId != _thread)
                throw new InvalidOperationException("A KernelContext scope must be disposed on the thread that installed it (do not await inside it).");
            t_current = _previous;
        }
    }
}
