using BitDistill.Kernels;
using static BitDistill.Tests.TestUtil;

namespace BitDistill.Tests.Kernels;

/// <summary>The INT8 row-scaled GEMV of the deployed lm_head: equal to its double-precision reference on odd sizes, and the
/// per-row absmax quantiser's round trip stays within half a step of each row's scale.</summary>
public sealed class Int8RowGemvTests
{
    [Theory]
    [InlineData(1, 1)]
    [InlineData(7, 33)]
    [InlineData(65, 1031)]
    public void TheGemvMatchesItsReferenceOnOddSizes(int n, int k)
    {
        var w = Rand([n, k], 5).ToFloatArray();
        var x = Rand([k], 6).ToFloatArray();
        var q = new sbyte[n * k]; var s = new float[n];
        Int8RowGemv.Quantize(w, n, k, q, s);
        var y = new float[n]; var yr = new float[n];
        Int8RowGemv.Multiply(q, s, n, k, x, y);
        Int8RowGemv.MultiplyReference(q, s, n, k, x, yr);
        Assert.True(RelErr(y, yr) <= 1e-6, $"relative error {RelErr(y, yr):E2}");
    }

    [Fact]
    public void QuantisationRoundTripsWithinHalfAStepPerRow()
    {
        const int n = 9, k = 50;
        var w = Rand([n, k], 8).ToFloatArray();
        for (int c = 0; c < k; c++) w[3 * k + c] = 0; // an all-zero row: scale 0, codes 0
        var q = new sbyte[n * k]; var s = new float[n];
        Int8RowGemv.Quantize(w, n, k, q, s);
        Assert.Equal(0f, s[3]);
        for (int r = 0; r < n; r++)
            for (int c = 0; c < k; c++)
                Assert.True(Math.Abs(q[r * k + c] * s[r] - w[r * k + c]) <= 0.5f * s[r] + 1e-7f, $"({r}, {c})");
    }
}
