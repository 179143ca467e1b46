using BitDistill.Autograd;
using BitDistill.Kernels;
using BitDistill.Tensors;

namespace BitDistill.Tests.Autograd;

/// <summary>Central-difference gradient checks for EVERY op in the registry, on random inputs of odd sizes.</summary>
public class GradCheckTests
{
    private static Tensor R(ulong seed, params int[] shape) => TestUtil.Rand(shape, seed, -1.5f, 1.5f);
    private static Tensor Pos(ulong seed, params int[] shape) => TestUtil.Rand(shape, seed, 0.5f, 2f);
    // values kept ≥ 0.1 away from 0 so |x| and relu are differentiable at every sample (h = 1e-2)
    private static Tensor AwayFromZero(ulong seed, params int[] shape)
    {
        var x = R(seed, shape);
        var s = x.AsSpan<float>();
        for (int i = 0; i < s.Length; i++) if (MathF.Abs(s[i]) < 0.1f) s[i] = s[i] < 0 ? s[i] - 0.1f : s[i] + 0.1f;
        return x;
    }

    private static (Tensor cos, Tensor sin) RopeTables(int t, int d)
    {
        var c = new float[t * d]; var s = new float[t * d];
        for (int p = 0; p < t; p++)
            for (int i = 0; i < d / 2; i++)
            {
                double f = p / Math.Pow(10000, 2.0 * i / d);
                c[p * d + i] = c[p * d + i + d / 2] = (float)Math.Cos(f);
                s[p * d + i] = s[p * d + i + d / 2] = (float)Math.Sin(f);
            }
        return (Tensor.FromArray(c, [t, d]), Tensor.FromArray(s, [t, d]));
    }

    /// <summary>name → (function, inputs, which inputs are differentiable, tolerance).</summary>
    public static Dictionary<string, (Func<Variable[], Variable> f, Tensor[] inputs, bool[]? diff)> Cases()
    {
        var (cos, sin) = RopeTables(5, 6);
        var ids = Tensor.FromArray(new long[] { 3, 0, 3, 6, 1 }, [5]);
        var targets = Tensor.FromArray(new long[] { 2, -100, 0, 6, 4 }, [5]);
        var mask = R(90, 3, 5).Compare(CompareOp.Gt, 0.2f);
        var pad = Tensor.FromArray(new float[] { 1, 1, 1, 1, 1, 1, 1, 1, 0, 0 }, [2, 5]);
        var ldTeacherHidden = R(73, 5, 6); var ldTeacherWeight = R(74, 7, 6);
        var ldRows = Tensor.FromArray(new float[] { 1, 0, 1, 1, 0 }, [5]);
        var adTeacher = R(76, 2, 3, 5, 6);
        var c = new Dictionary<string, (Func<Variable[], Variable>, Tensor[], bool[]?)>
        {
            ["add"] = (v => v[0] + v[1], [R(1, 3, 1, 5), R(2, 4, 5)], null),
            ["sub"] = (v => v[0] - v[1], [R(3, 3, 1, 5), R(4, 5)], null),
            ["mul"] = (v => v[0] * v[1], [R(5, 3, 1, 5), R(6, 4, 5)], null),
            ["div"] = (v => v[0] / v[1], [R(7, 3, 5), Pos(8, 5)], null),
            ["pow"] = (v => v[0].Pow(v[1]), [Pos(9, 3, 5), R(10, 5)], null),
            ["maximum"] = (v => v[0].Maximum(v[1]), [R(11, 3, 7), R(12, 7)], null),
            ["minimum"] = (v => v[0].Minimum(v[1]), [R(13, 3, 7), R(14, 7)], null),
            ["add_scalar"] = (v => v[0] + 2.5f, [R(15, 3, 5)], null),
            ["sub_scalar"] = (v => v[0] - 2.5f, [R(16, 3, 5)], null),
            ["rsub_scalar"] = (v => 2.5f - v[0], [R(17, 3, 5)], null),
            ["mul_scalar"] = (v => v[0] * -1.5f, [R(18, 3, 5)], null),
            ["div_scalar"] = (v => v[0] / 3f, [R(19, 3, 5)], null),
            ["rdiv_scalar"] = (v => 3f / v[0], [Pos(20, 3, 5)], null),
            ["pow_scalar"] = (v => v[0].Pow(2.5f), [Pos(21, 3, 5)], null),
            ["neg"] = (v => -v[0], [R(22, 3, 5)], null),
            ["abs"] = (v => v[0].Abs(), [AwayFromZero(23, 3, 5)], null),
            ["exp"] = (v => v[0].Exp(), [R(24, 3, 5)], null),
            ["log"] = (v => v[0].Log(), [Pos(25, 3, 5)], null),
            ["sqrt"] = (v => v[0].Sqrt(), [Pos(26, 3, 5)], null),
            ["rsqrt"] = (v => v[0].Rsqrt(), [Pos(27, 3, 5)], null),
            ["tanh"] = (v => v[0].Tanh(), [R(28, 3, 5)], null),
            ["sigmoid"] = (v => v[0].Sigmoid(), [R(29, 3, 5)], null),
            ["silu"] = (v => v[0].Silu(), [R(30, 3, 5)], null),
            ["swiglu"] = (v => F.SwiGlu(v[0], v[1]), [R(31, 3, 5), R(32, 3, 5)], null),
            ["gelu_tanh"] = (v => v[0].GeluTanh(), [R(31, 3, 5)], null),
            ["gelu_erf"] = (v => v[0].Gelu(), [R(32, 3, 5)], null),
            ["relu"] = (v => v[0].Relu(), [AwayFromZero(33, 3, 5)], null),
            ["relu2"] = (v => v[0].ReluSquared(), [AwayFromZero(34, 3, 5)], null),
            ["square"] = (v => v[0].Square(), [R(35, 3, 5)], null),
            ["reshape"] = (v => v[0].Reshape(5, 3) * v[0].Reshape(5, 3), [R(36, 3, 5)], null),
            ["permute"] = (v => v[0].Permute(2, 0, 1) * 2f, [R(37, 2, 3, 5)], null),
            ["slice"] = (v => v[0].Slice(1, 1, 8, 2).Square(), [R(38, 4, 9)], null),
            ["expand"] = (v => v[0].Expand(2, 3, 5) * v[1], [R(39, 3, 1), R(40, 2, 3, 5)], null),
            ["concat"] = (v => F.Concat([v[0], v[1]], 1).Square(), [R(41, 2, 3), R(42, 2, 4)], null),
            ["index_select"] = (v => v[0].IndexSelect(1, ids.Narrow(0, 0, 3)).Square(), [R(43, 2, 7)], null),
            ["embedding"] = (v => F.Embedding(v[0], ids), [R(44, 7, 3)], null),
            ["where"] = (v => F.Where(mask, v[0], v[1]), [R(45, 3, 5), R(46, 5)], null),
            ["masked_fill"] = (v => v[0].MaskedFill(mask, -3f) * v[0], [R(47, 3, 5)], null),
            ["sum"] = (v => v[0].Sum([0, 2]), [R(48, 3, 4, 5)], null),
            ["mean"] = (v => v[0].Mean(-1, keepDim: true), [R(49, 3, 4, 5)], null),
            ["max"] = (v => v[0].Max(1), [R(50, 4, 7)], null),
            ["matmul"] = (v => v[0].MatMul(v[1].T), [R(51, 2, 3, 5), R(52, 4, 5)], null),
            ["softmax"] = (v => v[0].Softmax(1), [R(53, 3, 7)], null),
            ["log_softmax"] = (v => v[0].LogSoftmax(-1), [R(54, 3, 7)], null),
            ["rms_norm"] = (v => F.RmsNorm(v[0], v[1], 1e-6f), [R(55, 3, 7), R(56, 7)], null),
            ["rms_norm_noweight"] = (v => F.RmsNorm(v[0], null, 1e-6f), [R(57, 3, 7)], null),
            ["rope"] = (v => F.Rope(v[0], cos, sin), [R(58, 2, 3, 5, 6)], null),
            ["l2_normalize"] = (v => F.L2Normalize(v[0]), [R(59, 3, 7)], null),
            ["cross_entropy"] = (v => F.CrossEntropy(v[0], targets), [R(60, 5, 7)], null),
            ["linear_cross_entropy"] = (v => F.LinearCrossEntropy(v[0], v[1], targets), [R(66, 5, 4), R(67, 7, 4)], null),
            ["linear_kl_distillation"] = (v => F.LinearKlDistillation(v[0], v[1], ldTeacherHidden, ldTeacherWeight, 2f, ldRows), [R(71, 5, 4), R(72, 7, 4)], null),
            ["linear_cross_entropy_with_distillation"] = (v => F.LinearCrossEntropyWithDistillation(v[0], v[1], targets, ldTeacherHidden, ldTeacherWeight, 2f, 3f).Total, [R(76, 5, 4), R(77, 7, 4)], null),
            ["attention_relation_kl"] = (v => F.AttentionRelationKl(v[0], adTeacher, pad, 0.5f, 0.4f), [R(75, 2, 3, 5, 4)], null),
            ["kl_div_temp"] = (v => F.KlDivWithTemperature(v[0], v[1], 2f), [R(61, 4, 9), R(62, 4, 9)], null),
            ["sdpa"] = (v => F.Attention(v[0], v[1], v[2], causal: true, keyPaddingMask: pad), [R(63, 2, 4, 5, 3), R(64, 2, 2, 5, 3), R(65, 2, 2, 5, 3)], null),
        };
        return c;
    }

    [Fact]
    public void EveryRegisteredOpHasAGradientCheck()
    {
        var missing = OpRegistry.Names.Except(Cases().Keys).ToArray();
        Assert.True(missing.Length == 0, "ops without a gradient check: " + string.Join(", ", missing));
        Assert.True(OpRegistry.Names.Count >= 45);
    }

    public static IEnumerable<object[]> OpNames() => OpRegistry.Names.Select(n => new object[] { n });

    [Theory, MemberData(nameof(OpNames))]
    public void FiniteDifferences(string op)
    {
        var (f, inputs, diff) = Cases()[op];
        foreach (var e in GradCheck.Check(f, inputs, diff, h: 1e-2))
            Assert.True(e.RelativeError < 2e-3, $"{op}: input {e.Input} gradient relative error {e.RelativeError:E2} (max |numeric| {e.MaxAbsNumeric:G3})");
    }

    [Fact]
    public void AGradientCheckCatchesAWrongBackward()
    {
        // a deliberately wrong custom op must fail the checker: y = x², backward claims 3x
        var errs = GradCheck.Check(v => WrongSquare.Apply(v[0]), [R(70, 3, 5)]);
        Assert.True(errs[0].RelativeError > 0.1);
    }

    private sealed class WrongSquare(Tensor x) : Function
    {
        public static Variable Apply(Variable x) => Record(new WrongSquare(x.Value), x.Value * x.Value, x);
        protected internal override Tensor?[] Backward(Tensor g, bool[] needs) => [g * x * 3f];
    }
}
