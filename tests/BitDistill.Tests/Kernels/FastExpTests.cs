using System.Runtime.Intrinsics;
using BitDistill.Kernels;

namespace BitDistill.Tests;

/// <summary>The single-precision vector exp (16 and 8 lanes) against MathF.Exp over its whole range and at the special values.</summary>
public class FastExpTests
{
    private static float[] Inputs(int lanes)
    {
        var xs = new List<float> { 0f, -0f, 1f, -1f, 88.7f, -87.3f, 88.8f, -87.4f, -100f, 100f, float.NegativeInfinity, float.PositiveInfinity, float.NaN, 1e-8f, -1e-8f };
        var r = new Random(5);
        for (int i = 0; i < 20000; i++) xs.Add((float)(r.NextDouble() * 176 - 87.3));
        while (xs.Count % lanes != 0) xs.Add(0.5f);
        return xs.ToArray();
    }

    private static void AssertMatches(float[] a, float[] y)
    {
        for (int i = 0; i < a.Length; i++)
        {
            float x = a[i], e = MathF.Exp(x);
            if (float.IsNaN(x)) { Assert.True(float.IsNaN(y[i])); continue; }
            if (x < -87.3365448f) { Assert.Equal(0f, y[i]); continue; }
            if (x > 88.7228391f) { Assert.Equal(float.PositiveInfinity, y[i]); continue; }
            Assert.True(Math.Abs(y[i] - e) <= 4e-7 * e, $"exp({x:R}) = {y[i]:R}, expected {e:R}");
        }
    }

    [Fact]
    public void SixteenLanesMatchMathFExp()
    {
        var a = Inputs(16); var y = new float[a.Length];
        for (int i = 0; i < a.Length; i += 16) FastExp.Exp(Vector512.Create(a.AsSpan(i, 16))).CopyTo(y.AsSpan(i, 16));
        AssertMatches(a, y);
    }

    [Fact]
    public void EightLanesMatchMathFExp()
    {
        var a = Inputs(8); var y = new float[a.Length];
        for (int i = 0; i < a.Length; i += 8) FastExp.Exp(Vector256.Create(a.AsSpan(i, 8))).CopyTo(y.AsSpan(i, 8));
        AssertMatches(a, y);
    }
}
