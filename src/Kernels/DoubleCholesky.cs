using System.Numerics;
using System.Runtime.InteropServices;

namespace BitDistill.Kernels;

/// <summary>Dense symmetric-positive-definite linear algebra in double precision on row-major n×n spans:
/// Cholesky factorisation, triangular inverse and solves, and the upper Cholesky factor of an inverse that GPTQ needs.
/// Plain loops over contiguous rows (dot products and axpys), sized for n up to a few thousand.</summary>
public static class DoubleCholesky
{
    /// <summary>Factors A = L·Lᵀ in place: on return the lower triangle of <paramref name="a"/> holds L and the strict upper
    /// triangle is zero. Only the lower triangle of A is read. Throws when A is not (numerically) positive definite.</summary>
    public static void Factor(Span<double> a, int n)
    {
        CheckSquare(a.Length, n, nameof(a));
        for (int i = 0; i < n; i++)
        {
            var rowI = a.Slice(i * n, n);
            for (int j = 0; j < i; j++)
            {
                var rowJ = a.Slice(j * n, j);
                rowI[j] = (rowI[j] - Dot(rowI[..j], rowJ)) / a[j * n + j];
            }
            double d = rowI[i] - Dot(rowI[..i], rowI[..i]);
            if (!(d > 0) || !double.IsFinite(d))
                throw new InvalidOperationException($"Matrix is not positive definite: pivot {i} of {n} is {d}.");
            rowI[i] = Math.Sqrt(d);
            rowI[(i + 1)..].Clear();
        }
    }

    /// <summary>Writes L⁻¹ (lower triangular, strict upper zero) for a lower-triangular L with a positive diagonal.</summary>
    public static void InvertLower(ReadOnlySpan<double> l, Span<double> inverse, int n)
    {
        CheckSquare(l.Length, n, nameof(l));
        CheckSquare(inverse.Length, n, nameof(inverse));
        inverse.Clear();
        // Row i of L⁻¹ solves Σ_k L[i,k]·Inv[k,:] = e_i, i.e. Inv[i,:] = (e_i − Σ_{k<i} L[i,k]·Inv[k,:]) / L[i,i].
        for (int i = 0; i < n; i++)
        {
            var inv = inverse.Slice(i * n, i + 1);
            inv[i] = 1;
            for (int k = 0; k < i; k++) Axpy(-l[i * n + k], inverse.Slice(k * n, k + 1), inv[..(k + 1)]);
            double d = l[i * n + i];
            for (int j = 0; j <= i; j++) inv[j] /= d;
        }
    }

    /// <summary>Writes A⁻¹ = L⁻ᵀ·L⁻¹ (full symmetric) from the Cholesky factor L of A.</summary>
    public static void InverseFromFactor(ReadOnlySpan<double> l, Span<double> inverse, int n)
    {
        CheckSquare(inverse.Length, n, nameof(inverse));
        var li = new double[(long)n * n];
        InvertLower(l, li, n);
        inverse.Clear();
        // A⁻¹[a,b] = Σ_{k ≥ max(a,b)} Li[k,a]·Li[k,b]: accumulate the lower triangle as rank-1 updates from each row k, in k order.
        for (int k = 0; k < n; k++)
        {
            var rk = li.AsSpan(k * n, k + 1);
            for (int a = 0; a <= k; a++) Axpy(rk[a], rk[..(a + 1)], inverse.Slice(a * n, a + 1));
        }
        MirrorLowerToUpper(inverse, n);
    }

    /// <summary>Solves A·x = b in place (b becomes x) given the Cholesky factor L of A: forward then backward substitution.</summary>
    public static void Solve(ReadOnlySpan<double> l, Span<double> b, int n)
    {
        CheckSquare(l.Length, n, nameof(l));
        if (b.Length != n) throw new ArgumentException($"b has {b.Length} elements; expected {n}.", nameof(b));
        for (int i = 0; i < n; i++) b[i] = (b[i] - Dot(l.Slice(i * n, i), b[..i])) / l[i * n + i];
        for (int i = n - 1; i >= 0; i--)
        {
            double s = b[i];
            for (int k = i + 1; k < n; k++) s -= l[k * n + i] * b[k];
            b[i] = s / l[i * n + i];
        }
    }

    /// <summary>Returns the upper-triangular U with A⁻¹ = Uᵀ·U (row-major, strict lower zero), as GPTQ uses it:
    /// Cholesky of A, inverse from the factor, then Cholesky of the inverse, transposed. Only the lower triangle of A is read.</summary>
    public static double[] UpperFactorOfInverse(ReadOnlySpan<double> a, int n)
    {
        CheckSquare(a.Length, n, nameof(a));
        var l = a.ToArray();
        Factor(l, n);
        var inv = new double[(long)n * n];
        InverseFromFactor(l, inv, n);
        Factor(inv, n);
        var u = new double[(long)n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j <= i; j++) u[j * n + i] = inv[i * n + j];
        return u;
    }

    /// <summary>Copies the strict lower triangle onto the strict upper triangle.</summary>
    public static void MirrorLowerToUpper(Span<double> a, int n)
    {
        for (int i = 0; i < n; i++)
            for (int j = 0; j < i; j++) a[j * n + i] = a[i * n + j];
    }

    /// <summary>Σ a[i]·b[i] over the common length; vectorised, with a fixed summation order for a given vector width.</summary>
    internal static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        int len = a.Length, i = 0;
        double s = 0;
        if (Vector.IsHardwareAccelerated && len >= 2 * Vector<double>.Count)
        {
            var va = MemoryMarshal.Cast<double, Vector<double>>(a);
            var vb = MemoryMarshal.Cast<double, Vector<double>>(b[..len]);
            var acc0 = Vector<double>.Zero;
            var acc1 = Vector<double>.Zero;
            int v = 0;
            for (; v + 1 < va.Length; v += 2) { acc0 += va[v] * vb[v]; acc1 += va[v + 1] * vb[v + 1]; }
            if (v < va.Length) acc0 += va[v] * vb[v];
            s = Vector.Sum(acc0 + acc1);
            i = va.Length * Vector<double>.Count;
        }
        for (; i < len; i++) s += a[i] * b[i];
        return s;
    }

    /// <summary>y[i] += alpha·x[i] over y's length (each element independently: the same result as the scalar loop).</summary>
    internal static void Axpy(double alpha, ReadOnlySpan<double> x, Span<double> y)
    {
        int len = y.Length, i = 0;
        if (Vector.IsHardwareAccelerated && len >= Vector<double>.Count)
        {
            var vx = MemoryMarshal.Cast<double, Vector<double>>(x[..len]);
            var vy = MemoryMarshal.Cast<double, Vector<double>>(y);
            var va = new Vector<double>(alpha);
            for (int v = 0; v < vy.Length; v++) vy[v] += va * vx[v];
            i = vy.Length * Vector<double>.Count;
        }
        for (; i < len; i++) y[i] += alpha * x[i];
    }

    private static void CheckSquare(int length, int n, string name)
    {
        if (n < 0 || length != (long)n * n)
            throw new ArgumentException($"{name} has {length} elements; expected an {n}×{n} matrix ({(long)n * n}).", name);
    }
}
