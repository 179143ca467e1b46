namespace BitDistill.Kernels;

/// <summary>Platform-independent double-precision log and sin/cos built only from IEEE-exact operations.</summary>
public static class DeterministicMath
{
    /// <summary>Natural log for x &gt; 0 (about 1 ulp).</summary>
    public static double Log(double x)
    {
        if (!(x > 0) || double.IsInfinity(x)) return x == 0 ? double.NegativeInfinity : x < 0 || double.IsNaN(x) ? double.NaN : x;
        long bits = BitConverter.DoubleToInt64Bits(x);
        int e = (int)((bits >> 52) & 0x7FF);
        if (e == 0) { x *= 18014398509481984.0; bits = BitConverter.DoubleToInt64Bits(x); e = (int)((bits >> 52) & 0x7FF) - 54; }
        e -= 1023;
        double m = BitConverter.Int64BitsToDouble((bits & 0x000FFFFFFFFFFFFFL) | 0x3FF0000000000000L); // [1, 2)
        if (m > 1.4142135623730951) { m *= 0.5; e++; }
        double s = (m - 1) / (m + 1), s2 = s * s;
        // 2·atanh(s) = 2(s + s³/3 + s⁵/5 + …), |s| ≤ 0.1716
        double sum = 0, term = s;
        for (int k = 1; k <= 39; k += 2) { sum += term / k; term *= s2; }
        const double Ln2Hi = 6.93147180369123816490e-01, Ln2Lo = 1.90821492927058770002e-10;
        return e * Ln2Hi + (2 * sum + e * Ln2Lo);
    }

    /// <summary>(sin 2πv, cos 2πv) for v in [0, 1).</summary>
    public static (double sin, double cos) SinCos2Pi(double v)
    {
        double q = v * 4; // quadrant, exact
        int k = (int)Math.Floor(q + 0.5);
        double r = (q - k) * (Math.PI / 2); // |r| ≤ π/4
        double r2 = r * r;
        double sn = 0, cs = 0, ts = r, tc = 1;
        for (int n = 1; n <= 23; n += 2)
        {
            sn += ts; cs += tc;
            ts *= -r2 / ((n + 1) * (n + 2));
            tc *= -r2 / (n * (n + 1));
        }
        return (k & 3) switch
        {
            0 => (sn, cs),
            1 => (cs, -sn),
            2 => (-sn, -cs),
            _ => (-cs, sn),
        };
    }

    /// <summary>Error function in double precision (series below |x| = 4, continued fraction above).</summary>
    public static double Erf(double x)
    {
        if (double.IsNaN(x)) return x;
        double ax = Math.Abs(x);
        if (ax < 4)
        {
            // erf(x) = 2/√π Σ (-1)^n x^(2n+1) / (n! (2n+1))
            double term = ax, sum = ax, x2 = ax * ax;
            for (int n = 1; n < 200; n++)
            {
                term *= -x2 / n;
                double add = term / (2 * n + 1);
                sum += add;
                if (Math.Abs(add) < 1e-17 * Math.Abs(sum)) break;
            }
            double r = sum * 1.1283791670955126;
            return x < 0 ? -r : r;
        }
        // erfc(x) = exp(-x²)/√π · 1/(x + 1/2/(x + 1/(x + 3/2/(x + 2/(x + …)))))
        double f = ax;
        for (int k = 60; k >= 1; k--) f = ax + (k / 2.0) / f;
        double erfc = Math.Exp(-ax * ax) / (f * 1.7724538509055159);
        return x < 0 ? erfc - 1 : 1 - erfc;
    }
}
