using BitDistill.Kernels;
using BitDistill.Tensors;

namespace BitDistill.Tests.Tensors;

/// <summary>The fused operations of <see cref="IBackend"/> (attention, linear + cross-entropy, activation quantisation and
/// the ternary product, optimizer updates, clipping norms): the CPU backend's fused kernels against the defaults the
/// reference backend inherits, on odd sizes, at every SIMD level.</summary>
public class FusedOpsParityTests
{
    public static IEnumerable<object[]> Levels() => TestUtil.SimdLevels().Select(l => new object[] { l });

    private static Tensor Cpu(int[] shape, ulong seed, float lo = -1, float hi = 1) => TestUtil.Rand(shape, seed, lo, hi, Device.Cpu);

    private static void AttentionCase(AttentionShape s, float[]? mask, int kvCapacity, string what)
    {
        var q = Cpu([s.Batch, s.Heads, s.QueryLen, s.HeadDim], 1, -2, 2);
        // K/V as the filled prefix of a larger cache when kvCapacity > S: the CPU backend reads such views in place
        var kFull = Cpu([s.Batch, s.KvHeads, kvCapacity, s.HeadDim], 2, -2, 2);
        var vFull = Cpu([s.Batch, s.KvHeads, kvCapacity, s.HeadDim], 3);
        var k = kFull.Narrow(2, 0, s.KeyLen); var v = vFull.Narrow(2, 0, s.KeyLen);
        var m = mask is null ? null : Tensor.FromArray(mask, [s.Batch, s.KeyLen], Device.Cpu);
        var g = Cpu([s.Batch, s.Heads, s.QueryLen, s.HeadDim], 4);
        var R = Device.Reference;
        var (o, lse) = Device.Cpu.Backend.Attention(s, q, k, v, m);
        var (or, lser) = R.Backend.Attention(s, q.To(R), k.Contiguous().To(R), v.Contiguous().To(R), m?.To(R));
        TestUtil.AssertClose(o, or, 1e-5, $"{what}: output");
        TestUtil.AssertClose(lse, lser, 1e-5, $"{what}: lse");
        var (dq, dk, dv) = Device.Cpu.Backend.AttentionBackward(s, q, k.Contiguous(), v.Contiguous(), m, o, lse, g);
        var (dqr, dkr, dvr) = R.Backend.AttentionBackward(s, q.To(R), k.Contiguous().To(R), v.Contiguous().To(R), m?.To(R), or, lser, g.To(R));
        TestUtil.AssertClose(dq, dqr, 1e-5, $"{what}: dq");
        TestUtil.AssertClose(dk, dkr, 1e-5, $"{what}: dk");
        TestUtil.AssertClose(dv, dvr, 1e-5, $"{what}: dv");
    }

    [Theory, MemberData(nameof(Levels))]
    public void AttentionMatchesReference(SimdLevel level)
    {
        using var _ = KernelContext.Override(simd: level);
        // GQA (4 query heads on 2 kv heads), a KV cache longer than the queries, key padding in the second sequence
        float[] pad = [1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1];
        AttentionCase(new AttentionShape(2, 4, 2, 5, 7, 3, 0.6f, true), pad, 11, "gqa causal cache+mask");
        // more query rows than one causal block (64), multi-query attention, odd head size
        AttentionCase(new AttentionShape(1, 3, 1, 67, 67, 5, 1f / MathF.Sqrt(5), true), null, 67, "mqa causal 67");
        // not causal
        AttentionCase(new AttentionShape(2, 2, 2, 3, 4, 8, 0.35f, false), null, 4, "bidirectional");
        // the first query row sees only key 0, which is padding: a fully masked row (lse −∞, output 0)
        float[] first = [0, 1, 1, 1, 1, 1];
        AttentionCase(new AttentionShape(1, 2, 1, 6, 6, 4, 0.5f, true), first, 6, "fully masked row");
    }

    [Theory, MemberData(nameof(Levels))]
    public void LinearCrossEntropyMatchesReference(SimdLevel level)
    {
        using var _ = KernelContext.Override(simd: level);
        int n = CpuBackend.LinearCrossEntropyRowBlock * 2 + 9, k = 17, c = 29;
        var h = Cpu([n, k], 5); var w = Cpu([c, k], 6);
        var t = new long[n];
        for (int i = 0; i < n; i++) t[i] = i % 7 == 3 ? -100 : (i * 13) % c;
        int valid = t.Count(x => x != -100);
        var tt = Tensor.FromArray(t, [n], Device.Cpu);
        var R = Device.Reference;
        foreach (bool withGrad in new[] { true, false })
        {
            var a = Device.Cpu.Backend.LinearCrossEntropy(h, w, tt, -100, valid, withGrad);
            var e = R.Backend.LinearCrossEntropy(h.To(R), w.To(R), tt.To(R), -100, valid, withGrad);
            Assert.True(Math.Abs(a.Loss - e.Loss) <= 1e-5 * Math.Abs(e.Loss), $"loss {a.Loss} vs {e.Loss}");
            Assert.Equal(withGrad, a.HiddenGrad is not null);
            if (!withGrad) continue;
            TestUtil.AssertClose(a.HiddenGrad!, e.HiddenGrad!, 1e-5, "dh");
            TestUtil.AssertClose(a.WeightGrad!, e.WeightGrad!, 1e-5, "dW");
        }
        var none = Device.Cpu.Backend.LinearCrossEntropy(h, w, Tensor.Full([n], -100, DType.Int64, Device.Cpu), -100, 0, true);
        Assert.True(float.IsNaN(none.Loss));
    }

    [Theory, MemberData(nameof(Levels))]
    public void CrossEntropyWithDistillationMatchesTheTwoSeparateOps(SimdLevel level)
    {
        using var _ = KernelContext.Override(simd: level);
        // more rows with a target than one row block, not a multiple of it; teacher hidden size differs from the student's
        int n = CpuBackend.LinearKlDistillationRowBlock * 2 + 40, k = 17, kt = 11, c = 29;
        var h = Cpu([n, k], 15); var w = Cpu([c, k], 16); var ht = Cpu([n, kt], 17); var wt = Cpu([c, kt], 18);
        var t = new long[n];
        for (int i = 0; i < n; i++) t[i] = i % 9 == 4 ? -100 : (i * 11) % c;
        int valid = t.Count(x => x != -100);
        var tt = Tensor.FromArray(t, [n], Device.Cpu);
        var R = Device.Reference;
        foreach (bool withGrad in new[] { true, false })
        {
            var a = Device.Cpu.Backend.LinearCrossEntropyWithDistillation(h, w, tt, -100, valid, ht, wt, 3f, 7f, withGrad);
            var e = R.Backend.LinearCrossEntropyWithDistillation(h.To(R), w.To(R), tt.To(R), -100, valid, ht.To(R), wt.To(R), 3f, 7f, withGrad);
            Assert.True(Math.Abs(a.CrossEntropy - e.CrossEntropy) <= 1e-5 * Math.Abs(e.CrossEntropy), $"ce {a.CrossEntropy} vs {e.CrossEntropy}");
            Assert.True(Math.Abs(a.Distillation - e.Distillation) <= 1e-5 * Math.Abs(e.Distillation), $"ld {a.Distillation} vs {e.Distillation}");
            Assert.Equal(withGrad, a.HiddenGrad is not null);
            if (!withGrad) continue;
            TestUtil.AssertClose(a.HiddenGrad!, e.HiddenGrad!, 1e-5, "dh");
            TestUtil.AssertClose(a.WeightGrad!, e.WeightGrad!, 1e-5, "dW");
            for (int i = 0; i < n; i++)
                if (t[i] == -100) Assert.All(a.HiddenGrad!.Narrow(0, i, 1).ToFloatArray(), x => Assert.Equal(0f, x));
        }
        var none = Device.Cpu.Backend.LinearCrossEntropyWithDistillation(h, w, Tensor.Full([n], -100, DType.Int64, Device.Cpu), -100, 0, ht, wt, 3f, 7f, true);
        Assert.True(float.IsNaN(none.CrossEntropy));
        Assert.Equal(0f, none.Distillation);
    }

    [Theory, MemberData(nameof(Levels))]
    public void TernaryProductMatchesReferenceExactly(SimdLevel level)
    {
        using var _ = KernelContext.Override(simd: level);
        foreach (var (m, k, n) in new[] { (1, 131, 7), (5, 257, 33), (3, 1, 4) })
        {
            var xs = Cpu([m, k], (ulong)(m * k), -3, 3).ToArray<float>();
            xs[0] = 0; if (m > 1) xs.AsSpan(k, k).Clear(); // a zero row: the scale's epsilon clamp
            var x = Tensor.FromArray(xs, [m, k], Device.Cpu);
            var codes = new sbyte[n * k];
            for (int i = 0; i < codes.Length; i++) codes[i] = (sbyte)((i * 7 + i / 3) % 3 - 1);
            var w = PackedTernaryMatrix.FromCodes(codes, n, k, TernaryScaleMode.PerRow, Enumerable.Range(0, n).Select(r => 0.01f * (r + 1)).ToArray());
            var R = Device.Reference;
            var qa = Device.Cpu.Backend.QuantizeActivations(x);
            var qe = R.Backend.QuantizeActivations(x.To(R));
            Assert.Equal(qe.Codes.ToArray<sbyte>(), qa.Codes.ToArray<sbyte>());
            Assert.Equal(qe.Scales.ToArray<float>(), qa.Scales.ToArray<float>());
            Assert.Equal(R.Backend.TernaryMatMul(qe, w).ToArray<float>(), Device.Cpu.Backend.TernaryMatMul(qa, w).ToArray<float>());
            Assert.Equal(R.Backend.DequantizeActivations(qe).ToArray<float>(), Device.Cpu.Backend.DequantizeActivations(qa).ToArray<float>());
        }
        var bad = Tensor.FromArray(new float[] { 1, float.NaN }, [1, 2], Device.Cpu);
        Assert.Throws<ArgumentException>(() => Device.Cpu.Backend.QuantizeActivations(bad));
    }

    [Theory, MemberData(nameof(Levels))]
    public void OptimizerUpdatesMatchReferenceBitwise(SimdLevel level)
    {
        using var _ = KernelContext.Override(simd: level);
        int[] shape = [31, 33];
        var R = Device.Reference;
        Tensor[] Fresh(Device d) => [Cpu(shape, 7).To(d), Cpu(shape, 8).To(d), Cpu(shape, 9, -0.1f, 0.1f).To(d), Cpu(shape, 10, 0, 0.01f).To(d)];
        var a = Fresh(Device.Cpu); var e = Fresh(R);
        var step = new AdamWStep(1e-2f, 0.9f, 0.999f, 1e-8f, 0.01f, 1 - 0.9f * 0.9f, MathF.Sqrt(1 - 0.999f * 0.999f));
        Device.Cpu.Backend.AdamWUpdate(a[0], a[1], a[2], a[3], step);
        R.Backend.AdamWUpdate(e[0], e[1], e[2], e[3], step);
        for (int i = 0; i < 4; i++) Assert.Equal(e[i].ToArray<float>(), a[i].ToArray<float>());

        foreach (var sgd in new[] { new SgdStep(0.1f, 0.9f, 0.01f, true), new SgdStep(0.1f, 0.9f, 0f, false), new SgdStep(0.05f, 0f, 0.1f, false) })
        {
            var pa = Cpu(shape, 11); var pe = pa.To(R);
            Tensor? ba = sgd.Momentum != 0 ? Tensor.Zeros(shape, DType.Float32, Device.Cpu) : null; var be = ba?.To(R);
            for (int s = 0; s < 2; s++)
            {
                var g = Cpu(shape, (ulong)(12 + s));
                Device.Cpu.Backend.SgdUpdate(pa, g, ba, sgd, s == 0);
                R.Backend.SgdUpdate(pe, g.To(R), be, sgd, s == 0);
            }
            Assert.Equal(pe.ToArray<float>(), pa.ToArray<float>());
            if (ba is not null) Assert.Equal(be!.ToArray<float>(), ba.ToArray<float>());
        }

        var x = Cpu([1033], 14, -3, 3);
        double ss = Device.Cpu.Backend.SumOfSquares(x), sr = R.Backend.SumOfSquares(x.To(R));
        Assert.True(Math.Abs(ss - sr) <= 1e-12 * sr, $"sum of squares {ss} vs {sr}");
        Assert.True(double.IsNaN(Device.Cpu.Backend.SumOfSquares(Tensor.FromArray(new[] { 1f, float.NaN }))));
        var y = x.Clone(); var yr = x.To(R);
        Device.Cpu.Backend.ScaleInPlace(y, 0.37f); R.Backend.ScaleInPlace(yr, 0.37f);
        Assert.Equal(yr.ToArray<float>(), y.ToArray<float>());
    }

    [Theory, MemberData(nameof(Levels))]
    public void AttentionRelationKlMatchesReference(SimdLevel level)
    {
        using var _ = KernelContext.Override(simd: level);
        var R = Device.Reference;
        var a = Cpu([2, 3, 37, 5], 21, -2, 2); var at = Cpu([2, 3, 37, 7], 22, -2, 2);
        var maskValues = Enumerable.Range(0, 2 * 37).Select(i => i % 37 < (i < 37 ? 37 : 29) ? 1f : 0f).ToArray(); // second sequence padded
        foreach (var mask in new[] { null, Tensor.FromArray(maskValues, [2, 37], Device.Cpu) })
        {
            var (l, g) = Device.Cpu.Backend.AttentionRelationKl(a, at, mask, 0.45f, 0.38f, withGrad: true);
            var (le, ge) = R.Backend.AttentionRelationKl(a.To(R), at.To(R), mask?.To(R), 0.45f, 0.38f, withGrad: true);
            Assert.True(Math.Abs(l - le) <= 1e-5 * Math.Abs(le), $"loss {l} vs {le}");
            TestUtil.AssertClose(g!, ge!, 1e-5, "dA_S");
        }
        // identical relations: zero loss and zero gradient
        var (zero, gz) = Device.Cpu.Backend.AttentionRelationKl(a, a, null, 0.5f, 0.5f, withGrad: true);
        Assert.True(Math.Abs(zero) < 1e-6, $"KL of identical relations {zero}");
        Assert.True(gz!.ToArray<float>().All(v => Math.Abs(v) < 1e-6));
    }
}
