using BitDistill.Kernels;
using BitDistill.Tensors;

namespace BitDistill.Tests.Tensors;

/// <summary>Every op of the SIMD CPU backend against the scalar reference backend on random odd shapes, strided views
/// and broadcasts, at every SIMD level this CPU supports (Scalar forces the fallback loops).</summary>
public class BackendParityTests
{
    public static IEnumerable<object[]> Levels() => TestUtil.SimdLevels().Select(l => new object[] { l });

    private static (Tensor cpu, Tensor reference) Pair(int[] shape, ulong seed, float lo = -2, float hi = 2)
    {
        var c = TestUtil.Rand(shape, seed, lo, hi, Device.Cpu);
        return (c, c.To(Device.Reference));
    }

    private static void Check(Func<Tensor, Tensor> op, Tensor cpu, Tensor reference, double tol, string what)
        => TestUtil.AssertClose(op(cpu), op(reference), tol, what);

    [Theory, MemberData(nameof(Levels))]
    public void UnaryOps(SimdLevel level)
    {
        using var _ = KernelContext.Override(simd: level);
        foreach (var shape in new[] { new[] { 1 }, new[] { 3 }, new[] { 17 }, new[] { 5, 33 }, new[] { 3, 127 } })
            foreach (var op in Enum.GetValues<UnaryOp>())
            {
                bool positive = op is UnaryOp.Log or UnaryOp.Sqrt or UnaryOp.Rsqrt;
                var (c, r) = Pair(shape, (ulong)(shape.Sum() * 31 + (int)op), positive ? 0.1f : -3f, 3f);
                Check(t => t.Apply(op), c, r, 2e-6, $"{op} {Tensor.ShapeString(shape)}");
                // strided input: the transpose of a 2-d tensor
                if (shape.Length == 2) Check(t => t.T.Apply(op), c, r, 2e-6, $"{op} transposed");
            }
    }

    [Theory, MemberData(nameof(Levels))]
    public void UnaryNanAndInf(SimdLevel level)
    {
        using var _ = KernelContext.Override(simd: level);
        var vals = new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity, 0f, -0f, 1f, -1f, 88f, -88f, 1e-30f, 3f };
        foreach (var op in new[] { UnaryOp.Neg, UnaryOp.Abs, UnaryOp.Exp, UnaryOp.Tanh, UnaryOp.Sigmoid, UnaryOp.Relu, UnaryOp.Square, UnaryOp.ReluSquared, UnaryOp.Silu })
        {
            var c = Tensor.FromArray(vals, [vals.Length], Device.Cpu);
            var r = c.To(Device.Reference);
            var a = c.Apply(op).ToArray<float>(); var e = r.Apply(op).ToArray<float>();
            for (int i = 0; i < vals.Length; i++)
            {
                if (float.IsNaN(e[i])) { Assert.True(float.IsNaN(a[i]), $"{op}({vals[i]}) = {a[i]}, expected NaN"); continue; }
                Assert.True(Math.Abs(a[i] - e[i]) <= 1e-6 * Math.Max(1, Math.Abs(e[i])) || a[i] == e[i], $"{op}({vals[i]}) = {a[i]}, expected {e[i]}");
            }
        }
    }

    [Theory, MemberData(nameof(Levels))]
    public void BinaryOpsWithBroadcasting(SimdLevel level)
    {
        using var _ = KernelContext.Override(simd: level);
        var shapes = new (int[] a, int[] b)[]
        {
            ([17], [17]), ([3, 1, 5], [4, 5]), ([1], [33]), ([7, 3], [3]), ([2, 3, 1], [1, 1, 9]), ([127, 5], [127, 1]), ([5, 1], []),
        };
        foreach (var (sa, sb) in shapes)
            foreach (var op in Enum.GetValues<BinaryOp>())
            {
                var (ac, ar) = Pair(sa, 11, op == BinaryOp.Pow ? 0.2f : -2f, 2f);
                var (bc, br) = Pair(sb, 12, op == BinaryOp.Div ? 0.5f : -2f, 2f);
                TestUtil.AssertClose(ac.Apply(op, bc), ar.Apply(op, br), 2e-6, $"{op} {Tensor.ShapeString(sa)} {Tensor.ShapeString(sb)}");
                TestUtil.AssertClose(bc.Apply(op, ac), br.Apply(op, ar), 2e-6, $"{op} swapped");
            }
        // strided operands
        var (x, xr) = Pair([9, 13], 5);
        var (y, yr) = Pair([13, 9], 6);
        TestUtil.AssertClose(x + y.T, xr + yr.T, 1e-7, "add transposed");
        TestUtil.AssertClose(x.Slice(1, 1, 12, 3) * y.T.Slice(1, 0, 10, 3), xr.Slice(1, 1, 12, 3) * yr.T.Slice(1, 0, 10, 3), 1e-7, "mul sliced");
        TestUtil.AssertClose(2f - x, 2f - xr, 1e-7, "scalar first");
        TestUtil.AssertClose(x / 3f, xr / 3f, 1e-7, "scalar div");
    }

    [Theory, MemberData(nameof(Levels))]
    public void Reductions(SimdLevel level)
    {
        using var _ = KernelContext.Override(simd: level);
        var (c, r) = Pair([3, 17, 5], 21);
        foreach (var axes in new[] { new[] { 0 }, new[] { 1 }, new[] { 2 }, new[] { 0, 2 }, new[] { 0, 1 }, new[] { 0, 1, 2 } })
            foreach (var keep in new[] { false, true })
            {
                TestUtil.AssertClose(c.Sum(axes, keep), r.Sum(axes, keep), 1e-6, $"sum {string.Join(",", axes)}");
                TestUtil.AssertClose(c.Mean(axes, keep), r.Mean(axes, keep), 1e-6, "mean");
                TestUtil.AssertClose(c.Max(axes, keep), r.Max(axes, keep), 0, "max");
                TestUtil.AssertClose(c.Min(axes, keep), r.Min(axes, keep), 0, "min");
                TestUtil.AssertClose(c.Permute(2, 0, 1).Sum(axes, keep), r.Permute(2, 0, 1).Sum(axes, keep), 1e-6, "sum permuted");
            }
        var (big, bigr) = Pair([64, 33], 22);
        TestUtil.AssertClose(big.Sum(0), bigr.Sum(0), 1e-6, "leading-axis sum");
        TestUtil.AssertClose(big.Max(0), bigr.Max(0), 0, "leading-axis max");
        for (int axis = 0; axis < 3; axis++)
        {
            Assert.Equal(r.ArgMax(axis).ToArray<long>(), c.ArgMax(axis).ToArray<long>());
            Assert.Equal(r.ArgMin(axis, true).ToArray<long>(), c.ArgMin(axis, true).ToArray<long>());
        }
        // NaN: max propagates NaN, argmax points at the NaN
        var n = Tensor.FromArray(new[] { 1f, float.NaN, 3f, 2f }, [1, 4], Device.Cpu);
        Assert.True(float.IsNaN(n.Max(1).Item()));
        Assert.Equal(1L, n.ArgMax(1).ToArray<long>()[0]);
        Assert.True(float.IsNaN(n.Sum().Item()));
    }

    [Theory, MemberData(nameof(Levels))]
    public void SoftmaxAndLogSoftmax(SimdLevel level)
    {
        using var _ = KernelContext.Override(simd: level);
        foreach (var shape in new[] { new[] { 1, 1 }, new[] { 3, 17 }, new[] { 4, 127 }, new[] { 2, 5, 33 } })
        {
            var (c, r) = Pair(shape, 31, -30, 30); // large logits: needs the max subtraction
            for (int axis = 0; axis < shape.Length; axis++)
            {
                TestUtil.AssertClose(c.Softmax(axis), r.Softmax(axis), 2e-6, $"softmax {axis}");
                TestUtil.AssertClose(c.LogSoftmax(axis), r.LogSoftmax(axis), 2e-6, $"log_softmax {axis}");
            }
        }
        var inf = Tensor.FromArray(new[] { 0f, float.NegativeInfinity, 1f }, [1, 3], Device.Cpu);
        var s = inf.Softmax().ToArray<float>();
        Assert.Equal(0f, s[1]);
        Assert.Equal(1.0, s[0] + s[2], 6);
    }

    [Theory, MemberData(nameof(Levels))]
    public void MatMulShapesAndTransposedViews(SimdLevel level)
    {
        using var _ = KernelContext.Override(simd: level);
        var cases = new (int[] a, int[] b)[]
        {
            ([5, 7], [7, 3]), ([1, 1], [1, 1]), ([17, 33], [33, 3]), ([2, 5, 7], [2, 7, 3]), ([2, 1, 5, 7], [3, 7, 4]), ([7], [7, 3]), ([5, 7], [7]),
        };
        foreach (var (sa, sb) in cases)
        {
            var (a, ar) = Pair(sa, 41); var (b, br) = Pair(sb, 42);
            TestUtil.AssertClose(a.MatMul(b), ar.MatMul(br), 1e-5, $"matmul {Tensor.ShapeString(sa)}x{Tensor.ShapeString(sb)}");
        }
        var (x, xr) = Pair([9, 13], 43); var (w, wr) = Pair([11, 13], 44); var (y, yr) = Pair([9, 11], 45);
        TestUtil.AssertClose(x.MatMul(w.T), xr.MatMul(wr.T), 1e-5, "x·wᵀ");
        // one row (the GEMV path), alone and with batch dims folded into the rows; and [B, T, K]·Wᵀ as one product
        var (w2, w2r) = Pair([67, 131], 48);
        foreach (var shape in new[] { new[] { 1, 131 }, [1, 1, 131], [3, 5, 131] })
        {
            var (v, vr) = Pair(shape, 49);
            TestUtil.AssertClose(v.MatMul(w2.T), vr.MatMul(w2r.T), 1e-5, $"{Tensor.ShapeString(shape)}·wᵀ");
        }
        TestUtil.AssertClose(x.T.MatMul(y), xr.T.MatMul(yr), 1e-5, "xᵀ·y");
        TestUtil.AssertClose(y.T.MatMul(x.Narrow(1, 2, 5)), yr.T.MatMul(xr.Narrow(1, 2, 5)), 1e-5, "narrowed");
        var (q, qr) = Pair([2, 3, 7, 8], 46); var (k, kr) = Pair([2, 3, 7, 8], 47);
        TestUtil.AssertClose(q.MatMul(k.Transpose(-1, -2)), qr.MatMul(kr.Transpose(-1, -2)), 1e-5, "batched qkᵀ");
        TestUtil.AssertClose(q.Permute(0, 2, 1, 3).MatMul(k.Permute(0, 2, 3, 1)), qr.Permute(0, 2, 1, 3).MatMul(kr.Permute(0, 2, 3, 1)), 1e-5, "permuted batch");
        Assert.Throws<ArgumentException>(() => x.MatMul(x));
    }

    [Fact]
    public void IndexSelectConcatStackSplit()
    {
        var (x, xr) = Pair([6, 5], 51);
        var idx = Tensor.FromArray(new long[] { 4, 0, 4, 2, 5, 1 }, [2, 3], Device.Cpu);
        TestUtil.AssertClose(x.IndexSelect(0, idx), xr.IndexSelect(0, idx.To(Device.Reference)), 0, "index_select 0");
        var idx1 = Tensor.FromArray(new long[] { 4, 0, 3, 3 }, [4], Device.Cpu);
        TestUtil.AssertClose(x.IndexSelect(1, idx1), xr.IndexSelect(1, idx1.To(Device.Reference)), 0, "index_select 1");
        TestUtil.AssertClose(x.T.Embedding(Tensor.FromArray(new int[] { 1, 3 }, [2], Device.Cpu)), x.T.Contiguous().IndexSelect(0, Tensor.FromArray(new long[] { 1, 3 }, [2], Device.Cpu)), 0, "int32 ids");
        var bad = Tensor.FromArray(new long[] { 6 }, [1], Device.Cpu);
        var ex = Assert.Throws<IndexOutOfRangeException>(() => x.IndexSelect(0, bad));
        Assert.Contains("size 6", ex.Message);
        var (y, yr) = Pair([6, 3], 52);
        TestUtil.AssertClose(Tensor.Concat([x, y], 1), Tensor.Concat([xr, yr], 1), 0, "concat");
        TestUtil.AssertClose(Tensor.Stack([x, x * 2f], 1), Tensor.Stack([xr, xr * 2f], 1), 0, "stack");
        var parts = Tensor.Concat([x, y], 1).Split(1, 5, 3);
        TestUtil.AssertClose(parts[0], x, 0, "split 0");
        TestUtil.AssertClose(parts[1], y, 0, "split 1");
    }

    [Theory, MemberData(nameof(Levels))]
    public void RmsNormAndRope(SimdLevel level)
    {
        using var _ = KernelContext.Override(simd: level);
        var (x, xr) = Pair([3, 5, 17], 61);
        var (w, wr) = Pair([17], 62);
        TestUtil.AssertClose(x.RmsNorm(w, 1e-6f), xr.RmsNorm(wr, 1e-6f), 2e-6, "rms_norm");
        TestUtil.AssertClose(x.RmsNorm(null, 1e-6f), xr.RmsNorm(null, 1e-6f), 2e-6, "rms_norm no weight");
        TestUtil.AssertClose(x.Transpose(0, 1).RmsNorm(w, 1e-6f), xr.Transpose(0, 1).RmsNorm(wr, 1e-6f), 2e-6, "rms_norm strided");
        var (q, qr) = Pair([2, 3, 7, 10], 63);
        var (cos, cosr) = Pair([7, 10], 64); var (sin, sinr) = Pair([7, 10], 65);
        TestUtil.AssertClose(q.Rope(cos, sin), qr.Rope(cosr, sinr), 1e-6, "rope");
        TestUtil.AssertClose(q.Transpose(1, 2).Contiguous().Transpose(1, 2).Rope(cos, sin), qr.Rope(cosr, sinr), 1e-6, "rope strided");
    }

    [Fact]
    public void CompareWhereMaskedFill()
    {
        var (a, ar) = Pair([4, 6], 71); var (b, br) = Pair([6], 72);
        foreach (var op in Enum.GetValues<CompareOp>())
            Assert.Equal(ar.Apply(BinaryOp.Sub, br).ToArray<float>().Select(v => Scalars.Compare(op, v, 0)).ToArray(),
                a.Backend.Compare(op, a, b).ToArray<bool>());
        var cond = a.Gt(b);
        TestUtil.AssertClose(Tensor.Where(cond, a, b), Tensor.Where(cond.To(Device.Reference), ar, br), 0, "where");
        TestUtil.AssertClose(a.MaskedFill(cond, -1e4f), ar.MaskedFill(cond.To(Device.Reference), -1e4f), 0, "masked_fill");
    }

    [Fact]
    public void CopyAndDTypeConversion()
    {
        var (x, xr) = Pair([5, 7], 81, -1000, 1000);
        foreach (var dt in new[] { DType.BFloat16, DType.Float16, DType.Int32, DType.Int64, DType.Int8 })
        {
            var src = dt == DType.Int8 ? x / 10f : x;
            var srcR = dt == DType.Int8 ? xr / 10f : xr;
            var c = src.T.To(dt); var r = srcR.T.To(dt);
            Assert.Equal(r.ToFloatArray(), c.ToFloatArray());
            Assert.Equal(r.To(DType.Float32).ToArray<float>(), c.To(DType.Float32).ToArray<float>());
        }
        // bf16 rounding: 1 + 2^-8 is a tie → rounds to even (1.0); 1 + 3·2^-8 rounds up
        var t = Tensor.FromArray(new[] { 1f + 1f / 256, 1f + 3f / 256, float.NaN, float.PositiveInfinity }, [4], Device.Cpu).To(DType.BFloat16).ToFloatArray();
        Assert.Equal(1f, t[0]); Assert.Equal(1f + 4f / 256, t[1]); Assert.True(float.IsNaN(t[2])); Assert.Equal(float.PositiveInfinity, t[3]);
    }

    [Theory, MemberData(nameof(Levels))]
    public void FusedBackwardKernels(SimdLevel level)
    {
        using var _ = KernelContext.Override(simd: level);
        foreach (var op in new[] { UnaryOp.Silu, UnaryOp.Sigmoid, UnaryOp.Tanh, UnaryOp.Exp, UnaryOp.Relu, UnaryOp.ReluSquared, UnaryOp.Square, UnaryOp.GeluTanh, UnaryOp.GeluErf, UnaryOp.Log, UnaryOp.Sqrt, UnaryOp.Rsqrt, UnaryOp.Abs, UnaryOp.Neg })
        {
            bool positive = op is UnaryOp.Log or UnaryOp.Sqrt or UnaryOp.Rsqrt;
            var (x, xr) = Pair([7, 1033], 91, positive ? 0.2f : -3f, 3f);
            var (g, gr) = Pair([7, 1033], 92);
            TestUtil.AssertClose(x.Backend.UnaryBackward(op, x, x.Apply(op), g), xr.Backend.UnaryBackward(op, xr, xr.Apply(op), gr), 5e-6, $"d{op}");
        }
        var (a, ar) = Pair([5, 3, 33], 93); var (w, wr) = Pair([33], 94); var (gg, ggr) = Pair([5, 3, 33], 95);
        var (dx, dw) = a.Backend.RmsNormBackward(a, w, 1e-6f, gg);
        var (dxr, dwr) = ar.Backend.RmsNormBackward(ar, wr, 1e-6f, ggr);
        TestUtil.AssertClose(dx, dxr, 5e-6, "rms dx"); TestUtil.AssertClose(dw!, dwr!, 5e-6, "rms dw");
        var (nx, _) = a.Backend.RmsNormBackward(a, null, 1e-6f, gg);
        TestUtil.AssertClose(nx, ar.Backend.RmsNormBackward(ar, null, 1e-6f, ggr).dx, 5e-6, "rms dx no weight");
        var (gp, gpr) = Pair([3, 5, 33], 97); // a gradient arriving as a permuted view (rows contiguous, outer dims swapped)
        var (px, pw) = a.Backend.RmsNormBackward(a, w, 1e-6f, gp.Transpose(0, 1));
        var (pxr, pwr) = ar.Backend.RmsNormBackward(ar, wr, 1e-6f, gpr.Transpose(0, 1));
        TestUtil.AssertClose(px, pxr, 5e-6, "rms dx, permuted g"); TestUtil.AssertClose(pw!, pwr!, 5e-6, "rms dw, permuted g");
        var (l, lr) = Pair([9, 4099], 96, -20, 20);
        var lse = l.Backend.LogSumExp(l);
        TestUtil.AssertClose(lse, lr.Backend.LogSumExp(lr), 1e-6, "lse");
        var t = Tensor.FromArray(new long[] { 0, 4098, -100, 5, 17, 2000, 1, -100, 3 }, [9], Device.Cpu);
        TestUtil.AssertClose(l.Backend.CrossEntropyBackward(l, lse, t, -100, 0.25f),
            lr.Backend.CrossEntropyBackward(lr, lse.To(Device.Reference), t.To(Device.Reference), -100, 0.25f), 1e-6, "ce grad");
    }
}
