using System.Runtime.Intrinsics;

namespace BitDistill.Kernels;

/// <summary>exp on 16 (or 8) floats in single precision (Cephes expf: range reduction by ln 2 in two parts, degree-6 polynomial,
/// 2ⁿ scaling through the exponent bits), within 2 ulp of <see cref="MathF.Exp"/> on [−87.3, 88.7]; below that it is 0
/// (so exp(−∞) = 0), above it +∞, and NaN stays NaN. Several times faster than Vector512.Exp, which works in double.</summary>
public static class FastExp
{
    private const float Hi = 88.7228391f, Lo = -87.3365448f;

    /// <summary>e^x lane by lane.</summary>
    public static Vector512<float> Exp(Vector512<float> x)
    {
        var xc = Vector512.Min(Vector512.Max(x, Vector512.Create(Lo)), Vector512.Create(Hi));
        var n = Vector512.Round(xc * Vector512.Create(1.44269504088896341f));
        var r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-0.693359375f), xc);
        r = Vector512.FusedMultiplyAdd(n, Vector512.Create(2.12194440e-4f), r);
        var p = Vector512.Create(1.9875691500E-4f);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.3981999507E-3f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(8.3334519073E-3f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(4.1665795894E-2f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.6666665459E-1f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(5.0000001201E-1f));
        p = Vector512.FusedMultiplyAdd(p, r * r, r) + Vector512<float>.One;
        // 2ⁿ: n ∈ [−126, 128]; split as 2^(n/2)·2^(n − n/2) so both factors are normal floats
        var ni = Vector512.ConvertToInt32(n);
        var h = ni >> 1;
        var s1 = ((h + Vector512.Create(127)) << 23).AsSingle();
        var s2 = ((ni - h + Vector512.Create(127)) << 23).AsSingle();
        var y = p * s1 * s2;
        y = Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512.Create(Lo)), Vector512<float>.Zero, y);
        y = Vector512.ConditionalSelect(Vector512.GreaterThan(x, Vector512.Create(Hi)), Vector512.Create(float.PositiveInfinity), y);
        return Vector512.ConditionalSelect(Vector512.Equals(x, x), y, x); // NaN in, NaN out
    }

    /// <summary>e^x lane by lane, on 8 floats (AVX2 machines: Vector256.Exp works in double and is several times slower).</summary>
    public static Vector256<float> Exp(Vector256<float> x)
    {
        var xc = Vector256.Min(Vector256.Max(x, Vector256.Create(Lo)), Vector256.Create(Hi));
        var n = Vector256.Round(xc * Vector256.Create(1.44269504088896341f));
        var r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-0.693359375f), xc);
        r = Vector256.FusedMultiplyAdd(n, Vector256.Create(2.12194440e-4f), r);
        var p = Vector256.Create(1.9875691500E-4f);
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.3981999507E-3f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(8.3334519073E-3f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(4.1665795894E-2f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.6666665459E-1f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(5.0000001201E-1f));
        p = Vector256.FusedMultiplyAdd(p, r * r, r) + Vector256<float>.One;
        // 2ⁿ: n ∈ [−126, 128]; split as 2^(n/2)·2^(n − n/2) so both factors are normal floats
        var ni = Vector256.ConvertToInt32(n);
        var h = ni >> 1;
        var s1 = ((h + Vector256.Create(127)) << 23).AsSingle();
        var s2 = ((ni - h + Vector256.Create(127)) << 23).AsSingle();
        var y = p * s1 * s2;
        y = Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256.Create(Lo)), Vector256<float>.Zero, y);
        y = Vector256.ConditionalSelect(Vector256.GreaterThan(x, Vector256.Create(Hi)), Vector256.Create(float.PositiveInfinity), y);
        return Vector256.ConditionalSelect(Vector256.Equals(x, x), y, x); // NaN in, NaN out
    }
}
