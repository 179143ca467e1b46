using BitDistill.Kernels;
using BitDistill.Tensors;

namespace BitDistill.Tests.Backends;

/// <summary>Every op the ILGPU backend implements, run on ILGPU's CPU emulator against the SIMD CPU backend at small odd
/// sizes, with strided and broadcast views.</summary>
public class IlgpuBackendTests
{
    private static Device Gpu => IlgpuTestDevice.Device;
    private static Device Cpu => Device.Cpu;

    private static void Check(Func<Tensor, Tensor> op, Tensor cpu, Tensor gpu, double tol, string what) =>
        IlgpuTestDevice.AssertClose(op(gpu), op(cpu), tol, what);

    [Fact]
    public void HostTransfersRoundTripEveryDType()
    {
        var f = new float[] { 1.5f, -2f, float.NaN, 7f, 0f };
        Assert.Equal(f, Tensor.FromArray(f, [5], Gpu).ToArray<float>());
        var l = new long[] { long.MaxValue, -3, 0 };
        Assert.Equal(l, Tensor.FromArray(l, [3], Gpu).ToArray<long>());
        var b = new sbyte[] { -128, 0, 127 };
        Assert.Equal(b, Tensor.FromArray(b, [3], Gpu).ToArray<sbyte>());
        Assert.Equal(new[] { true, false, true }, Tensor.FromArray(new[] { true, false, true }, [3], Gpu).ToArray<bool>());
    }

    [Fact]
    public void CopiesConvertDTypesAndWalkStridedViews()
    {
        var (c, g) = IlgpuTestDevice.Pair([5, 7], 1, -50, 50);
        foreach (var dt in new[] { DType.Int64, DType.Int32, DType.Int8, DType.UInt8, DType.Bool, DType.BFloat16 })
        {
            var a = g.To(dt).To(Cpu); var e = c.To(dt);
            Assert.Equal(e.To(DType.Float32).ToArray<float>(), a.To(DType.Float32).ToArray<float>());
            Assert.Equal(e.To(DType.Float32).ToArray<float>(), g.To(dt).To(DType.Float32).ToArray<float>());
        }
        Check(t => t.T.Contiguous(), c, g, 0, "transpose copy");
        Check(t => t.Narrow(1, 2, 3).Contiguous(), c, g, 0, "narrow copy");
        Check(t => Tensor.Concat([t, t.Narrow(1, 1, 4) * 2f], 1), c, g, 0, "concat");
        var z = Tensor.Zeros([3, 4], DType.Float32, Gpu);
        z.Narrow(1, 1, 2).Fill(2.5);
        Assert.Equal(new float[] { 0, 2.5f, 2.5f, 0, 0, 2.5f, 2.5f, 0, 0, 2.5f, 2.5f, 0 }, z.ToArray<float>());
    }

    [Fact]
    public void UnaryOpsMatchTheCpuBackend()
    {
        foreach (var op in Enum.GetValues<UnaryOp>())
        {
            bool positive = op is UnaryOp.Log or UnaryOp.Sqrt or UnaryOp.Rsqrt;
            var (c, g) = IlgpuTestDevice.Pair([3, 11], (ulong)(7 + (int)op), positive ? 0.1f : -3f, 3f);
            Check(t => t.Apply(op), c, g, 2e-6, op.ToString());
            Check(t => t.T.Apply(op), c, g, 2e-6, op + " transposed");
        }
    }

    [Fact]
    public void BinaryOpsBroadcastLikeTheCpuBackend()
    {
        var shapes = new (int[] a, int[] b)[] { ([17], [17]), ([3, 1, 5], [4, 5]), ([7, 3], [3]), ([2, 3, 1], [1, 1, 9]), ([5, 1], []) };
        foreach (var (sa, sb) in shapes)
            foreach (var op in Enum.GetValues<BinaryOp>())
            {
                var (ca, ga) = IlgpuTestDevice.Pair(sa, 3, op == BinaryOp.Pow ? 0.5f : -2f, 2f);
                var (cb, gb) = IlgpuTestDevice.Pair(sb, 4, op == BinaryOp.Div ? 0.5f : -2f, 2f);
                IlgpuTestDevice.AssertClose(ga.Apply(op, gb), ca.Apply(op, cb), 2e-6, $"{op} {Tensor.ShapeString(sa)} {Tensor.ShapeString(sb)}");
            }
        var (c, g) = IlgpuTestDevice.Pair([4, 9], 5, 0.5f, 2f);
        Check(t => 3f - t, c, g, 1e-7, "scalar first");
        Check(t => t.Pow(1.5f), c, g, 2e-6, "pow scalar");
        Check(t => 2f / t.T, c, g, 1e-7, "scalar over a transpose");
        var (c2, g2) = IlgpuTestDevice.Pair([9], 6, 0.5f, 2f);
        Check(t => t.Gt(t.Narrow(0, 0, 1)).To(DType.Float32), c, g, 0, "compare with broadcast");
        IlgpuTestDevice.AssertClose(Tensor.Where(g.Gt(g2), g, g2 * 10f), Tensor.Where(c.Gt(c2), c, c2 * 10f), 0, "where");
    }

    [Fact]
    public void ReductionsSoftmaxAndArgMaxMatchTheCpuBackend()
    {
        var (c, g) = IlgpuTestDevice.Pair([3, 5, 7], 8);
        foreach (var op in Enum.GetValues<ReduceOp>())
            foreach (var axes in new[] { new[] { 0 }, new[] { 2 }, new[] { 0, 2 }, new[] { 0, 1, 2 } })
                foreach (var keep in new[] { false, true })
                    IlgpuTestDevice.AssertClose(g.Backend.Reduce(op, g, axes, keep), c.Backend.Reduce(op, c, axes, keep), 1e-6, $"{op} over {string.Join(",", axes)} keep {keep}");
        foreach (var axis in new[] { 0, 1, 2 })
        {
            Check(t => t.Softmax(axis), c, g, 1e-6, $"softmax {axis}");
            Check(t => t.LogSoftmax(axis), c, g, 1e-6, $"log-softmax {axis}");
            Check(t => t.ArgMax(axis).To(DType.Float32), c, g, 0, $"argmax {axis}");
            Check(t => t.ArgMin(axis).To(DType.Float32), c, g, 0, $"argmin {axis}");
        }
        Check(t => t.Backend.LogSumExp(t), c, g, 1e-6, "logsumexp");
    }

    [Fact]
    public void TiledAndPerElementMatMulsMatchTheCpuBackendOnOddShapesBatchesAndTransposes()
    {
        Assert.False(((BitDistill.Backends.Ilgpu.IlgpuBackend)Gpu.Backend).TiledSgemm);
        Assert.True(((BitDistill.Backends.Ilgpu.IlgpuBackend)IlgpuTestDevice.TiledSgemmDevice.Backend).TiledSgemm);
        var cases = new (int[] a, int[] b, bool tb)[]
        {
            ([5, 7], [7, 3], false), ([33, 37], [35, 37], true), ([2, 1, 5, 19], [3, 19, 17], false), ([7], [7, 4], false), ([3, 7], [7], false),
        };
        foreach (var device in new[] { Gpu, IlgpuTestDevice.TiledSgemmDevice })
        {
            string kernel = device == Gpu ? "per element" : "tiled";
            foreach (var (sa, sb, tb) in cases)
            {
                var (ca, cb) = (TestUtil.Rand(sa, 9, -2, 2, Cpu), TestUtil.Rand(sb, 10, -2, 2, Cpu));
                var (ga, gb) = (ca.To(device), cb.To(device));
                var y = ga.MatMul(tb ? gb.T : gb);
                Assert.Equal(device, y.Device);
                TestUtil.AssertClose(y.To(Cpu), ca.MatMul(tb ? cb.T : cb), 1e-5, $"{kernel}: {Tensor.ShapeString(sa)}·{Tensor.ShapeString(sb)}{(tb ? "ᵀ" : "")}");
            }
            var empty = Tensor.Zeros([4, 0], DType.Float32, device).MatMul(Tensor.Zeros([0, 3], DType.Float32, device));
            Assert.Equal(new float[12], empty.ToArray<float>());
            var c = TestUtil.Rand([17, 21], 11, -2, 2, Cpu);
            TestUtil.AssertClose(c.To(device).T.MatMul(c.To(device)).To(Cpu), c.T.MatMul(c), 1e-5, $"{kernel}: AᵀA with a strided left operand");
        }
    }

    [Fact]
    public void NormsRopeAndGathersMatchTheCpuBackend()
    {
        var (c, g) = IlgpuTestDevice.Pair([2, 3, 5, 8], 12);
        var (cw, gw) = IlgpuTestDevice.Pair([8], 13, 0.5f, 1.5f);
        IlgpuTestDevice.AssertClose(g.RmsNorm(gw, 1e-6f), c.RmsNorm(cw, 1e-6f), 1e-6, "rmsnorm");
        var (cg, gg) = IlgpuTestDevice.Pair([2, 3, 5, 8], 14);
        var (cdx, cdw) = c.Backend.RmsNormBackward(c, cw, 1e-6f, cg);
        var (gdx, gdw) = g.Backend.RmsNormBackward(g, gw, 1e-6f, gg);
        IlgpuTestDevice.AssertClose(gdx, cdx, 1e-5, "rmsnorm dx");
        IlgpuTestDevice.AssertClose(gdw!, cdw!, 1e-5, "rmsnorm dw");
        var (ccos, gcos) = IlgpuTestDevice.Pair([5, 8], 15); var (csin, gsin) = IlgpuTestDevice.Pair([5, 8], 16);
        foreach (var tr in new[] { false, true })
            IlgpuTestDevice.AssertClose(g.Rope(gcos, gsin, tr), c.Rope(ccos, csin, tr), 1e-6, $"rope transpose={tr}");
        var (ce, ge) = IlgpuTestDevice.Pair([11, 6], 17);
        var ids = new long[] { 3, 0, 10, 3, 7 };
        IlgpuTestDevice.AssertClose(ge.IndexSelect(0, Tensor.FromArray(ids, [5], Gpu)), ce.IndexSelect(0, Tensor.FromArray(ids, [5], Cpu)), 0, "embedding gather");
        var cols = new int[] { 5, 1, 1 };
        IlgpuTestDevice.AssertClose(ge.IndexSelect(1, Tensor.FromArray(cols, [3], Gpu)), ce.IndexSelect(1, Tensor.FromArray(cols, [3], Cpu)), 0, "gather on axis 1");
        var (cs, gs) = IlgpuTestDevice.Pair([5, 6], 18);
        IlgpuTestDevice.AssertClose(gs.IndexAddInto([11, 6], 0, Tensor.FromArray(ids, [5], Gpu)), cs.IndexAddInto([11, 6], 0, Tensor.FromArray(ids, [5], Cpu)), 1e-6, "index add");
        Assert.Throws<IndexOutOfRangeException>(() => ge.IndexSelect(0, Tensor.FromArray(new long[] { 11 }, [1], Gpu)));
    }

    [Fact]
    public void BackwardKernelsMatchTheCpuBackend()
    {
        foreach (var op in Enum.GetValues<UnaryOp>().Where(o => o is not (UnaryOp.Sign or UnaryOp.Erf or UnaryOp.Abs or UnaryOp.Reciprocal)))
        {
            bool positive = op is UnaryOp.Log or UnaryOp.Sqrt or UnaryOp.Rsqrt or UnaryOp.Reciprocal;
            var (c, g) = IlgpuTestDevice.Pair([4, 9], (ulong)(20 + (int)op), positive ? 0.2f : -3f, 3f);
            var (cg, gg) = IlgpuTestDevice.Pair([4, 9], 40);
            IlgpuTestDevice.AssertClose(g.Backend.UnaryBackward(op, g, g.Apply(op), gg), c.Backend.UnaryBackward(op, c, c.Apply(op), cg), 1e-5, $"{op} backward");
        }
        var (cl, gl) = IlgpuTestDevice.Pair([5, 13], 41);
        var targets = new long[] { 3, -100, 12, 0, 5 };
        var ct = Tensor.FromArray(targets, [5], Cpu); var gt = Tensor.FromArray(targets, [5], Gpu);
        var (clse, cgrad) = cl.Backend.CrossEntropyWithGrad(cl, ct, -100, 0.25f);
        var (glse, ggrad) = gl.Backend.CrossEntropyWithGrad(gl, gt, -100, 0.25f);
        IlgpuTestDevice.AssertClose(glse, clse, 1e-6, "ce lse");
        IlgpuTestDevice.AssertClose(ggrad, cgrad, 1e-6, "ce grad");
        Assert.Equal(cl.Backend.CrossEntropyMeanLoss(cl, clse, ct, -100, 4), gl.Backend.CrossEntropyMeanLoss(gl, glse, gt, -100, 4), 5);
    }

    [Fact]
    public void OptimizerUpdatesAndClippingMatchTheCpuBackend()
    {
        var (cp, gp) = IlgpuTestDevice.Pair([7, 5], 50); var (cg, gg) = IlgpuTestDevice.Pair([7, 5], 51);
        var (cm, gm) = IlgpuTestDevice.Pair([7, 5], 52); var (cv, gv) = IlgpuTestDevice.Pair([7, 5], 53, 0, 1);
        var step = new AdamWStep(1e-2f, 0.9f, 0.999f, 1e-8f, 0.1f, 0.19f, 0.0447f);
        cp.Backend.AdamWUpdate(cp, cg, cm, cv, step); gp.Backend.AdamWUpdate(gp, gg, gm, gv, step);
        IlgpuTestDevice.AssertClose(gp, cp, 1e-6, "adamw param");
        IlgpuTestDevice.AssertClose(gm, cm, 1e-6, "adamw exp_avg");
        IlgpuTestDevice.AssertClose(gv, cv, 1e-6, "adamw exp_avg_sq");
        var (cb, gb) = IlgpuTestDevice.Pair([7, 5], 54);
        foreach (var first in new[] { true, false })
        {
            var s = new SgdStep(0.1f, 0.9f, 0.01f, !first);
            cp.Backend.SgdUpdate(cp, cg, cb, s, first); gp.Backend.SgdUpdate(gp, gg, gb, s, first);
            IlgpuTestDevice.AssertClose(gp, cp, 1e-6, "sgd param"); IlgpuTestDevice.AssertClose(gb, cb, 1e-6, "sgd momentum");
        }
        Assert.Equal(cp.Backend.SumOfSquares(cp), gp.Backend.SumOfSquares(gp), 9);
        cp.Backend.ScaleInPlace(cp, 0.3f); gp.Backend.ScaleInPlace(gp, 0.3f);
        IlgpuTestDevice.AssertClose(gp, cp, 0, "scale in place");
    }

    [Theory]
    [InlineData(TernaryScaleMode.PerTensor)]
    [InlineData(TernaryScaleMode.PerRow)]
    public void TernaryW2A8ProductMatchesTheScalarReference(TernaryScaleMode mode)
    {
        // K = 201 spans a padded second 128-weight block; M = 3 rows of INT8 activations, N = 5 ternary rows
        var w = TestUtil.Rand([5, 201], 60).ToArray<float>();
        var packed = PackedTernaryMatrix.Pack(w, 5, 201, mode);
        var (cx, gx) = IlgpuTestDevice.Pair([3, 201], 61);
        var expected = Device.Reference.Backend.TernaryMatMul(Device.Reference.Backend.QuantizeActivations(cx.To(Device.Reference)), packed);
        var actual = gx.Backend.TernaryMatMul(gx.Backend.QuantizeActivations(gx), packed);
        Assert.Equal(Gpu, actual.Device);
        Assert.Equal(expected.ToArray<float>(), actual.ToArray<float>());
    }

    [Fact]
    public void ATensorOfAnotherDeviceIsRefusedWithItsDevice()
    {
        var g = Tensor.Zeros([3], DType.Float32, Gpu);
        var ex = Assert.Throws<ArgumentException>(() => g.Backend.Binary(BinaryOp.Add, g, Tensor.Zeros(3)));
        Assert.Contains("cpu", ex.Message);
    }

    [Fact]
    public void AnEmptyTensorMovesToTheDeviceAndBack()
    {
        var empty = Tensor.Zeros([4, 0]);
        Assert.True(empty.IsContiguous);
        var there = empty.To(Gpu);
        Assert.Equal([4, 0], there.Shape);
        Assert.Equal([4, 0], there.To(Cpu).Shape);
        Assert.Empty(there.To(Cpu).ToArray<float>());
    }

    [Fact]
    public void AttentionAndItsGradientsMatchTheCpuBackendWithGroupsCachesAndPadding()
    {
        // (batch, heads, kv heads, queries, keys, head dim, causal, mask): GQA 4 on 2 heads; a cache longer than the queries;
        // a padded second sequence whose first queries see no key at all (lse −∞, output and gradients 0); plain MHA
        var cases = new (int B, int H, int Hkv, int T, int S, int D, bool Causal, float[]? Mask)[]
        {
            (1, 4, 2, 5, 5, 7, true, null),
            (2, 2, 1, 3, 6, 5, true, [1, 1, 1, 1, 0, 1, 0, 0, 0, 0, 1, 1]),
            (2, 3, 3, 4, 4, 3, false, [1, 0, 1, 1, 1, 1, 1, 0]),
        };
        ulong seed = 40;
        foreach (var (b, h, hkv, t, sLen, d, causal, mask) in cases)
        {
            var shape = new AttentionShape(b, h, hkv, t, sLen, d, 1f / MathF.Sqrt(d), causal);
            var (qc, qg) = IlgpuTestDevice.Pair([b, h, t, d], seed++);
            var (kc, kg) = IlgpuTestDevice.Pair([b, hkv, sLen, d], seed++);
            var (vc, vg) = IlgpuTestDevice.Pair([b, hkv, sLen, d], seed++);
            var (gc, gg) = IlgpuTestDevice.Pair([b, h, t, d], seed++);
            var mc = mask is null ? null : Tensor.FromArray(mask, [b, sLen], Cpu);
            var mg = mc?.To(Gpu);
            string what = $"attention B{b} H{h}/{hkv} T{t} S{sLen} D{d}";
            var (o, lse) = Cpu.Backend.Attention(shape, qc, kc, vc, mc);
            var (og, lseg) = Gpu.Backend.Attention(shape, qg, kg, vg, mg);
            IlgpuTestDevice.AssertClose(og, o, 1e-5, what + ": output");
            Assert.Equal(lse.ToArray<float>().Select(float.IsNegativeInfinity), lseg.To(Cpu).ToArray<float>().Select(float.IsNegativeInfinity));
            var finite = (Tensor x) => Tensor.FromArray(x.To(Cpu).ToArray<float>().Select(v => float.IsNegativeInfinity(v) ? 0f : v).ToArray(), x.ShapeArray, Cpu);
            TestUtil.AssertClose(finite(lseg), finite(lse), 1e-5, what + ": lse");
            var (dq, dk, dv) = Cpu.Backend.AttentionBackward(shape, qc, kc, vc, mc, o, lse, gc);
            var (dqg, dkg, dvg) = Gpu.Backend.AttentionBackward(shape, qg, kg, vg, mg, og, lseg, gg);
            IlgpuTestDevice.AssertClose(dqg, dq, 1e-4, what + ": dq");
            IlgpuTestDevice.AssertClose(dkg, dk, 1e-4, what + ": dk");
            IlgpuTestDevice.AssertClose(dvg, dv, 1e-4, what + ": dv");
        }
        var bad = new AttentionShape(1, 3, 2, 2, 2, 4, 0.5f, true);
        Assert.Throws<ArgumentException>(() => Gpu.Backend.Attention(bad, Tensor.Zeros([1, 3, 2, 4], DType.Float32, Gpu), Tensor.Zeros([1, 2, 2, 4], DType.Float32, Gpu), Tensor.Zeros([1, 2, 2, 4], DType.Float32, Gpu), null));
    }

    [Fact]
    public void AttentionReadsAKvCachePrefixViewOnTheDevice()
    {
        var shape = new AttentionShape(1, 2, 1, 1, 3, 4, 0.5f, true);
        var (qc, qg) = IlgpuTestDevice.Pair([1, 2, 1, 4], 90);
        var (kc, kg) = IlgpuTestDevice.Pair([1, 1, 8, 4], 91); // capacity 8, 3 filled
        var (vc, vg) = IlgpuTestDevice.Pair([1, 1, 8, 4], 92);
        var (o, _) = Cpu.Backend.Attention(shape, qc, kc.Narrow(2, 0, 3), vc.Narrow(2, 0, 3), null);
        var (og, _) = Gpu.Backend.Attention(shape, qg, kg.Narrow(2, 0, 3), vg.Narrow(2, 0, 3), null);
        IlgpuTestDevice.AssertClose(og, o, 1e-5, "cached attention");
    }

    [Fact]
    public void ActivationQuantisationOnTheDeviceGivesTheCpuCodesAndScalesExactly()
    {
        foreach (var (m, k) in new[] { (1, 1), (3, 131), (5, 17) })
        {
            var (xc, xg) = IlgpuTestDevice.Pair([m, k], (ulong)(m * 1000 + k), -3, 3);
            var xs = xc.ToArray<float>();
            if (m > 1) xs.AsSpan(k, k).Clear(); // a zero row: the scale's ε clamp
            xc = Tensor.FromArray(xs, [m, k], Cpu); xg = xc.To(Gpu);
            var a = Cpu.Backend.QuantizeActivations(xc);
            var b = Gpu.Backend.QuantizeActivations(xg);
            Assert.Equal(Gpu, b.Codes.Device);
            Assert.Equal(a.Codes.ToArray<sbyte>(), b.Codes.To(Cpu).ToArray<sbyte>());
            Assert.Equal(a.Scales.ToArray<float>(), b.Scales.To(Cpu).ToArray<float>());
        }
        var bad = Gpu.Backend.QuantizeActivations(Tensor.FromArray(new float[] { 1, float.NaN, 2, 3 }, [2, 2], Gpu));
        var scales = bad.Scales.To(Cpu).ToArray<float>();
        Assert.True(float.IsNaN(scales[0]), "a non-finite activation makes its row's scale NaN on the device");
        Assert.Equal(127f / 3f, scales[1]);
    }

    [Fact]
    public void TernarisationOnTheDeviceGivesTheCpuCodesScalesAndProductsExactly()
    {
        foreach (var (n, k) in new[] { (1, 5), (7, 131), (33, 9) })
        {
            var (wc, wg) = IlgpuTestDevice.Pair([n, k], (ulong)(n * 100 + k), -0.2f, 0.2f);
            var (fc, fg) = IlgpuTestDevice.Pair([n], 7, 0.05f, 0.3f);
            var (rc, rg) = IlgpuTestDevice.Pair([n], 8, 0.05f, 0.3f);
            var (xc, xg) = IlgpuTestDevice.Pair([3, k], 9, -2, 2);
            var qa = Cpu.Backend.QuantizeActivations(xc); var qg = Gpu.Backend.QuantizeActivations(xg);
            foreach (var (mode, fixedScales) in new[] { (TernaryScaleMode.PerTensor, false), (TernaryScaleMode.PerRow, false), (TernaryScaleMode.PerRow, true) })
            {
                var a = Cpu.Backend.TernarizeWeights(wc, mode, null, fixedScales ? fc : null, fixedScales ? rc : null);
                var b = Gpu.Backend.TernarizeWeights(wg, mode, null, fixedScales ? fg : null, fixedScales ? rg : null);
                Assert.Equal(Gpu, b.Codes.Device);
                Assert.Equal(a.Codes.ToArray<sbyte>(), b.Codes.To(Cpu).ToArray<sbyte>());
                Assert.Equal(a.Scales.ToArray<float>(), b.Scales.To(Cpu).ToArray<float>());
                Assert.Equal(a.Dequantized.ToArray<float>(), b.Dequantized.To(Cpu).ToArray<float>());
                Assert.Equal(Cpu.Backend.TernaryMatMul(qa, a).ToArray<float>(), Gpu.Backend.TernaryMatMul(qg, b).To(Cpu).ToArray<float>());
                // the exporter's packed matrix, packed on first use from the device codes, holds the CPU's bytes
                Assert.Equal(a.Packed!.Data.ToArray(), b.Packed!.Data.ToArray());
            }
        }
        var perGroup = Gpu.Backend.TernarizeWeights(Tensor.Ones(2, 6).To(Gpu), TernaryScaleMode.PerRow, groupSize: 4);
        Assert.Null(perGroup.Packed);
        Assert.Equal([4], perGroup.Scales.To(Cpu).Shape.ToArray()); // n × groups, flat
        Assert.Throws<ArgumentException>(() => Gpu.Backend.TernaryMatMul(Gpu.Backend.QuantizeActivations(Tensor.Ones(1, 6).To(Gpu)), perGroup));
        var e = Assert.Throws<ArgumentException>(() => Gpu.Backend.TernarizeWeights(Tensor.Ones(2, 6).To(Gpu), TernaryScaleMode.PerRow, null, Tensor.Ones(3).To(Gpu)));
        Assert.Contains("fixed row scales must be [2]", e.Message);
    }
}
