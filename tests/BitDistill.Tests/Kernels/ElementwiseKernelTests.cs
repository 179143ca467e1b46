using BitDistill.Kernels;

namespace BitDistill.Tests.Kernels;

/// <summary>The span-wide unary kernels: every op at every SIMD level against its scalar definition on odd lengths, out of
/// place and in place (SiLU and GELU-tanh read their input again after writing the output).</summary>
public class ElementwiseKernelTests
{
    public static IEnumerable<object[]> Cases() =>
        from level in TestUtil.SimdLevels()
        from op in Enum.GetValues<UnaryOp>()
        select new object[] { level, op };

    [Theory, MemberData(nameof(Cases))]
    public void UnaryOpsMatchTheirScalarDefinitionOutOfPlaceAndInPlace(SimdLevel level, UnaryOp op)
    {
        using var _ = KernelContext.Override(simd: level);
        var rng = new Random(3);
        foreach (int n in new[] { 1, 7, 33, 257, 1000 })
        {
            // positive inputs for the ops whose domain needs them
            bool positive = op is UnaryOp.Log or UnaryOp.Sqrt or UnaryOp.Rsqrt or UnaryOp.Reciprocal;
            var x = Enumerable.Range(0, n).Select(_ => positive ? (float)(rng.NextDouble() * 4 + 0.05) : (float)(rng.NextDouble() * 8 - 4)).ToArray();
            var expected = x.Select(v => Elementwise.UnaryScalar(op, v)).ToArray();
            var y = new float[n];
            Elementwise.Unary(op, x, y);
            var inPlace = (float[])x.Clone();
            Elementwise.Unary(op, inPlace, inPlace);
            for (int i = 0; i < n; i++)
            {
                double tol = 2e-6 * Math.Max(1, Math.Abs(expected[i]));
                Assert.True(Math.Abs(y[i] - expected[i]) <= tol, $"{op} at {level}, n {n}, [{i}]: {y[i]} vs {expected[i]}");
                Assert.True(Math.Abs(inPlace[i] - expected[i]) <= tol, $"{op} in place at {level}, n {n}, [{i}]: {inPlace[i]} vs {expected[i]}");
            }
        }
    }
}
