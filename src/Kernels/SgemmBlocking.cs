namespace BitDistill.Kernels;

/// <summary>Cache blocking of <see cref="Sgemm"/>'s packed path at one SIMD level: KC (depth of a packed panel), MC (rows of A
/// packed at once), NC (columns of B packed at once). The register tile MR×NR is fixed by the level's micro-kernel.</summary>
/// <remarks>KC decides where K is cut into partial sums, so changing it can change results in the last bit (as can an MC or NC
/// that is not a multiple of the register tile, <see cref="Sgemm.RegisterTile"/>, which moves tiles onto the edge path).</remarks>
public readonly record struct SgemmBlocking
{
    private readonly int _kc, _mc, _nc;

    /// <summary>Creates a blocking; every value must be at least 1.</summary>
    public SgemmBlocking(int kc, int mc, int nc) => (KC, MC, NC) = (kc, mc, nc);

    /// <summary>Depth (K) of one packed panel.</summary>
    public int KC { get => _kc; init => _kc = Positive(value, nameof(KC)); }
    /// <summary>Rows of op(A) packed per block.</summary>
    public int MC { get => _mc; init => _mc = Positive(value, nameof(MC)); }
    /// <summary>Columns of op(B) packed per block.</summary>
    public int NC { get => _nc; init => _nc = Positive(value, nameof(NC)); }

    /// <summary>Whether every value is set (a <c>default</c> instance is not).</summary>
    public bool IsValid => _kc >= 1 && _mc >= 1 && _nc >= 1;

    private static int Positive(int value, string name) =>
        value >= 1 ? value : throw new ArgumentOutOfRangeException(name, value, $"SgemmBlocking.{name} must be at least 1.");
}
