using BitDistill.Backends.Ilgpu;
using BitDistill.Kernels;
using BitDistill.Tensors;
using ILGPU.Runtime;
using Device = BitDistill.Tensors.Device;

namespace BitDistill.Tests.Backends;

/// <summary>The GPUs' row kernels (a group of <see cref="IlgpuKernels.RowGroup"/> threads per row, shared-memory trees), forced
/// on an emulator, against the one-thread-per-row kernels of the shared emulator and the CPU backend, at row widths below,
/// at, and above the group size, with NaN/±∞ rows, ties, masked and ignored rows. Sums change order, so sums are compared
/// to a relative 1e-5 (a float sum of ≤ 300 terms is within a few hundred ulps, ~2e-5 at worst, far less in practice);
/// maxima, arg-maxima and NaN/∞ positions exactly.</summary>
public class IlgpuRowGroupKernelTests
{
    private static Device PerRow => IlgpuTestDevice.Device;
    private static Device Grouped => IlgpuTestDevice.GroupRowsDevice;
    private static Device Cpu => Device.Cpu;

    private static readonly int[] Widths = [1, 7, 128, 129, 300];

    // op on the group-per-row emulator, the thread-per-row emulator and (when given) the CPU backend: all agree; returns the
    // group-per-row result (on the CPU)
    private static Tensor Agree(Tensor x, Func<Tensor, Tensor> op, double tol, string what, bool withCpu = true)
    {
        var grouped = op(x.To(Grouped)).To(Cpu);
        TestUtil.AssertClose(grouped, op(x.To(PerRow)).To(Cpu), tol, what + " (group per row vs thread per row)");
        if (withCpu) TestUtil.AssertClose(grouped, op(x), tol, what + " (group per row vs CPU)");
        return grouped;
    }

    [Fact]
    public void TheEmulatorRunsRowKernelsPerRowUnlessAskedForTheGroupKernels()
    {
        Assert.False(((IlgpuBackend)PerRow.Backend).GroupRowKernels);
        Assert.True(((IlgpuBackend)Grouped.Backend).GroupRowKernels);
        Assert.False(((IlgpuBackend)Grouped.Backend).TiledSgemm);
    }

    [Fact]
    public void GroupPerRowReductionsSoftmaxAndArgMaxMatchThePerRowKernelsAtWidthsAroundTheGroupSize()
    {
        foreach (int n in Widths)
        {
            var x = TestUtil.Rand([3, n], (ulong)(20 + n), -4, 4, Cpu);
            foreach (var op in Enum.GetValues<ReduceOp>())
                Agree(x, t => t.Backend.Reduce(op, t, [1], false), op is ReduceOp.Max or ReduceOp.Min ? 0 : 1e-5, $"{op} over {n}");
            Agree(x, t => t.ArgMax(1).To(DType.Float32), 0, $"argmax over {n}");
            Agree(x, t => t.ArgMin(1).To(DType.Float32), 0, $"argmin over {n}");
            Agree(x, t => t.Softmax(1), 1e-5, $"softmax over {n}");
            Agree(x, t => t.LogSoftmax(1), 1e-5, $"log-softmax over {n}");
            Agree(x, t => t.Backend.LogSumExp(t), 1e-5, $"logsumexp over {n}");
        }
    }

    // rows: random; two NaNs; +∞; all −∞; −∞ at every third (masked logits); the maximum twice; the minimum twice. The second
    // of each pair sits in a lower thread than the first where the row is wide enough, so the tree must keep the first index.
    private static (Tensor X, int MaxTie, int MinTie, int FirstNaN) SpecialRows(int n)
    {
        var v = TestUtil.Rand([7, n], (ulong)(40 + n), -2, 2, Cpu).ToArray<float>();
        int firstNaN = Math.Min(6, n - 1), maxTie = 5, minTie = 6;
        v[n + firstNaN] = float.NaN; v[n + n - 1] = float.NaN;
        v[2 * n + n / 2] = float.PositiveInfinity;
        for (int j = 0; j < n; j++) v[3 * n + j] = float.NegativeInfinity;
        for (int j = 0; j < n; j += 3) v[4 * n + j] = float.NegativeInfinity;
        v[5 * n + maxTie] = 5; v[5 * n + (n > 129 ? 129 : n - 1)] = 5;
        v[6 * n + minTie] = -5; v[6 * n + (n > 130 ? 130 : n - 1)] = -5;
        return (Tensor.FromArray(v, [7, n], Cpu), maxTie, minTie, firstNaN);
    }

    [Fact]
    public void GroupPerRowKernelsKeepThePerRowNaNInfinityAndTieBehaviour()
    {
        foreach (int n in new[] { 7, 300 })
        {
            var (x, maxTie, minTie, firstNaN) = SpecialRows(n);
            var max = Agree(x, t => t.Backend.Reduce(ReduceOp.Max, t, [1], false), 0, $"max over {n} (NaN/∞ rows)", withCpu: false).ToArray<float>();
            foreach (var op in new[] { ReduceOp.Sum, ReduceOp.Mean, ReduceOp.Min })
                Agree(x, t => t.Backend.Reduce(op, t, [1], false), op == ReduceOp.Min ? 0 : 1e-5, $"{op} over {n} (NaN/∞ rows)", withCpu: false);
            var argMax = Agree(x, t => t.ArgMax(1).To(DType.Float32), 0, $"argmax over {n} (NaN/∞ rows)", withCpu: false).ToArray<float>();
            var argMin = Agree(x, t => t.ArgMin(1).To(DType.Float32), 0, $"argmin over {n} (NaN/∞ rows)", withCpu: false).ToArray<float>();
            Agree(x, t => t.Softmax(1), 1e-5, $"softmax over {n} (NaN/∞ rows)", withCpu: false);
            Agree(x, t => t.LogSoftmax(1), 1e-5, $"log-softmax over {n} (NaN/∞ rows)", withCpu: false);
            var lse = Agree(x, t => t.Backend.LogSumExp(t), 1e-5, $"logsumexp over {n} (NaN/∞ rows)", withCpu: true).ToArray<float>();

            Assert.Equal(firstNaN, argMax[1]); Assert.Equal(firstNaN, argMin[1]); // the first NaN
            Assert.Equal(maxTie, argMax[5]); Assert.Equal(minTie, argMin[6]); // the first of two equal extremes
            Assert.Equal(0, argMax[3]); // all −∞: nothing beats the first
            Assert.True(float.IsNaN(lse[1]) && float.IsNaN(lse[2]), $"logsumexp over {n}: NaN and +∞ rows give NaN as per row");
            Assert.Equal(float.NegativeInfinity, lse[3]); // all −∞: log 0, as the CPU and PyTorch give
            Assert.True(float.IsFinite(lse[4]), $"logsumexp over {n}: −∞ entries add nothing");
            Assert.True(float.IsNaN(max[1]) && max[2] == float.PositiveInfinity && max[3] == float.NegativeInfinity, $"max over {n}");
        }
    }

    [Fact]
    public void GroupPerRowRmsNormAndItsBackwardMatchThePerRowKernels()
    {
        foreach (int n in new[] { 1, 7, 129, 300 })
        {
            var x = TestUtil.Rand([3, n], (ulong)(60 + n), -2, 2, Cpu);
            var w = TestUtil.Rand([n], (ulong)(61 + n), 0.5f, 1.5f, Cpu);
            var g = TestUtil.Rand([3, n], (ulong)(62 + n), -1, 1, Cpu);
            foreach (bool weighted in new[] { true, false })
            {
                string what = $"rmsnorm over {n}{(weighted ? "" : " without weight")}";
                Agree(x, t => t.RmsNorm(weighted ? w.To(t.Device) : null, 1e-6f), 1e-5, what);
                // a single-element row's dx is all cancellation (rstd·g·(1 − x²·rstd²) ≈ rstd·g·eps/x²): per-row kernel only
                Agree(x, t => t.Backend.RmsNormBackward(t, weighted ? w.To(t.Device) : null, 1e-6f, g.To(t.Device)).dx, 1e-5, what + " dx", withCpu: n > 1);
                if (weighted) Agree(x, t => t.Backend.RmsNormBackward(t, w.To(t.Device), 1e-6f, g.To(t.Device)).dw!, 1e-5, what + " dw");
            }
        }
    }

    [Fact]
    public void ElementwiseCrossEntropyBackwardMatchesThePerRowKernelWithIgnoredRows()
    {
        foreach (int n in new[] { 1, 7, 129 })
        {
            var logits = TestUtil.Rand([4, n], (ulong)(80 + n), -3, 3, Cpu);
            var lse = Cpu.Backend.LogSumExp(logits);
            var targets = Tensor.FromArray(new long[] { n / 2, -100, 0, n - 1 }, [4], Cpu);
            Tensor Backward(Tensor t) => t.Backend.CrossEntropyBackward(t, lse.To(t.Device), targets.To(t.Device), -100, 0.25f);
            Agree(logits, Backward, 0, $"CE backward over {n}", withCpu: false); // the same expression per element as the per-row kernel
            var grouped = Backward(logits.To(Grouped)).To(Cpu);
            TestUtil.AssertClose(grouped, Backward(logits), 1e-6, $"CE backward over {n} vs CPU"); // another exp
            var y = grouped.ToArray<float>();
            Assert.All(y.Skip(n).Take(n), v => Assert.Equal(0f, v)); // the ignored row
        }
    }

    private static void AssertLoss(float grouped, float reference, double relTol, string what) =>
        Assert.True(Math.Abs(grouped - reference) <= relTol * Math.Max(1e-3, Math.Abs(reference)), $"{what}: group per row {grouped}, reference {reference}");

    [Fact]
    public void GroupPerRowDistillationLossesMatchThePerRowKernelsWithMaskedAndIgnoredRows()
    {
        const int N = 5, K = 3;
        const long Ignore = -100;
        foreach (int c in new[] { 7, 129, 300 })
        {
            var (hs, ws) = (TestUtil.Rand([N, K], (ulong)c, -2, 2, Cpu), TestUtil.Rand([c, K], (ulong)c + 1, -2, 2, Cpu));
            var (ht, wt) = (TestUtil.Rand([N, K + 1], (ulong)c + 2, -2, 2, Cpu), TestUtil.Rand([c, K + 1], (ulong)c + 3, -2, 2, Cpu));
            foreach (var (m, what) in new (float[]? Mask, string What)[] { ([1, 0, 1, 1, 0], "2 rows masked"), (new float[N], "every row masked"), (null, "no mask") })
            {
                string label = $"LD over {c}, {what}";
                LinearKlDistillationResult Run(Device d) => d.Backend.LinearKlDistillation(hs.To(d), ws.To(d), ht.To(d), wt.To(d),
                    m is null ? null : Tensor.FromArray(m, [N], d), 2.5f, withGrad: true);
                var (grouped, perRow, cpu) = (Run(Grouped), Run(PerRow), Run(Cpu));
                AssertLoss(grouped.Loss, perRow.Loss, 1e-5, label + " vs per row");
                AssertLoss(grouped.Loss, cpu.Loss, 1e-4, label + " vs CPU"); // as the per-row kernel's own test: a KL is a small difference
                TestUtil.AssertClose(grouped.StudentHiddenGrad!.To(Cpu), perRow.StudentHiddenGrad!.To(Cpu), 1e-5, label + " dh");
                TestUtil.AssertClose(grouped.StudentWeightGrad!.To(Cpu), cpu.StudentWeightGrad!, 1e-5, label + " dW");
                if (m is not null && m.All(v => v == 0)) Assert.Equal(0f, grouped.Loss);
            }
            foreach (var (t, what) in new (long[] Targets, string What)[] { ([3, Ignore, c - 1, 0, Ignore], "2 rows ignored"), ([Ignore, Ignore, Ignore, Ignore, Ignore], "every row ignored") })
            {
                string label = $"CE + λLD over {c}, {what}";
                int valid = t.Count(v => v != Ignore);
                LinearCrossEntropyWithDistillationResult Run(Device d) => d.Backend.LinearCrossEntropyWithDistillation(hs.To(d), ws.To(d), Tensor.FromArray(t, [N], d),
                    Ignore, valid, ht.To(d), wt.To(d), 2.5f, 10f, withGrad: true);
                var (grouped, perRow, cpu) = (Run(Grouped), Run(PerRow), Run(Cpu));
                if (valid == 0) Assert.True(float.IsNaN(grouped.CrossEntropy), label);
                else { AssertLoss(grouped.CrossEntropy, perRow.CrossEntropy, 1e-5, label + " CE"); AssertLoss(grouped.CrossEntropy, cpu.CrossEntropy, 1e-5, label + " CE vs CPU"); }
                AssertLoss(grouped.Distillation, perRow.Distillation, 1e-5, label + " LD");
                AssertLoss(grouped.Distillation, cpu.Distillation, 1e-4, label + " LD vs CPU");
                TestUtil.AssertClose(grouped.HiddenGrad!.To(Cpu), perRow.HiddenGrad!.To(Cpu), 1e-5, label + " dh");
                TestUtil.AssertClose(grouped.WeightGrad!.To(Cpu), cpu.WeightGrad!, 1e-5, label + " dW");
            }
        }
    }

    [Fact]
    public void GroupPerRowAttentionRelationKlMatchesThePerRowKernelWithPaddedTokens()
    {
        // 7 keys (below the group) and 131 (above it: keys 128..130 are a thread's second stride); the wide case pads tokens
        // 1..100 so that 31 query rows, not 131, pay the emulator's group barriers
        float[] Mask(int b, int t, Func<int, bool> padded) => Enumerable.Range(0, b * t).Select(i => padded(i) ? 0f : 1f).ToArray();
        var cases = new (int B, int R, int T, float[]? Mask, string What)[]
        {
            (2, 2, 7, Mask(2, 7, i => i is 0 or 1 or 13), "padded tokens"), (2, 2, 7, new float[14], "every token padded"), (2, 2, 7, null, "no mask"),
            (1, 1, 131, Mask(1, 131, i => i is >= 1 and <= 100), "100 padded tokens"),
        };
        foreach (var (b, r, t, mask, what) in cases)
        {
            var (s, te) = (TestUtil.Rand([b, r, t, 5], (ulong)t, -1, 1, Cpu), TestUtil.Rand([b, r, t, 3], (ulong)t + 1, -1, 1, Cpu));
            string label = $"AD over {t} keys, {what}";
            (float Loss, Tensor? Grad) Run(Device d) => d.Backend.AttentionRelationKl(s.To(d), te.To(d), mask is null ? null : Tensor.FromArray(mask, [b, t], d), 0.4f, 0.3f, withGrad: true);
            var (grouped, perRow, cpu) = (Run(Grouped), Run(PerRow), Run(Cpu));
            AssertLoss(grouped.Loss, perRow.Loss, 1e-5, label + " vs per row");
            AssertLoss(grouped.Loss, cpu.Loss, 1e-4, label + " vs CPU");
            TestUtil.AssertClose(grouped.Grad!.To(Cpu), perRow.Grad!.To(Cpu), 1e-5, label + " grad");
            TestUtil.AssertClose(grouped.Grad!.To(Cpu), cpu.Grad!, 1e-5, label + " grad vs CPU");
            if (mask is not null && mask.All(v => v == 0)) Assert.Equal(0f, grouped.Loss);
            else Assert.True(cpu.Loss > 1e-4f, $"{label}: a loss to compare, got {cpu.Loss}");
        }
    }

    [Fact]
    public void OneGroupCountsKeptRowsAndTargetsAndAveragesOverMoreRowsThanItHasThreads()
    {
        var acc = ((IlgpuBackend)Grouped.Backend).Accelerator;
        var (grouped, perRow) = (new IlgpuKernelSet(acc, groupRows: true), new IlgpuKernelSet(acc, groupRows: false));
        foreach (int n in new[] { 1, 128, 300 })
        {
            var mask = Enumerable.Range(0, n).Select(i => i % 7 == 3 ? 0f : 1f).ToArray();
            var targets = Enumerable.Range(0, n).Select(i => i % 5 == 1 ? -100L : i).ToArray();
            var rows = TestUtil.Rand([n], (ulong)n, 0, 3, Cpu).ToArray<float>();
            using var mb = acc.Allocate1D(mask); using var tb = acc.Allocate1D(targets); using var rb = acc.Allocate1D(rows);
            using var outs = acc.Allocate1D<float>(8);
            foreach (var (k, o) in new[] { (grouped, 0), (perRow, 4) })
            {
                k.KeptCount(mb.View, n, 1, 3f, outs.View.SubView(o, 1));
                k.TargetCount(tb.View, n, -100, outs.View.SubView(o + 1, 1));
                k.LossMean(rb.View, n, outs.View.SubView(o + 1, 1), 0f, 2f, outs.View, o + 2);
                k.KeptCount(mb.View, n, 0, 1f, outs.View.SubView(o + 3, 1));
            }
            acc.Synchronize();
            var r = outs.GetAsArray1D();
            Assert.Equal(3f * mask.Count(v => v != 0), r[0]);
            Assert.Equal(targets.Count(v => v != -100), r[1]);
            Assert.Equal(n, r[3]);
            Assert.Equal((r[4], r[5], r[7]), (r[0], r[1], r[3])); // the per-row kernels' counts
            double mean = rows.Sum(v => (double)v) / r[1] * 2;
            Assert.True(Math.Abs(r[2] - mean) <= 1e-6 * mean && Math.Abs(r[6] - mean) <= 1e-6 * mean, $"mean over {n}: group {r[2]}, per row {r[6]}, expected {mean}");
        }
    }
}
