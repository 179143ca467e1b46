using BitDistill.Autograd;
using BitDistill.Tensors;

namespace BitDistill.Tests.Autograd;

/// <summary>The data-parallel collectives over a group of ranks simulated as threads: the bucketed gradient all-reduce sums
/// every element once (tensors cut across buckets of an odd size), gives a parameter that has a gradient on one rank a
/// gradient on all, leaves one without any alone; buckets overlapped with the backward pass give the same sums; parameters
/// and files are broadcast from the root.</summary>
public class GradientAllReduceTests
{
    // ranks as threads of this process: each collective gathers every rank's buffer, then each rank sums them in rank order
    private sealed class ThreadGroup(int size)
    {
        private readonly Barrier _barrier = new(size);
        private readonly object?[] _slots = new object?[size];

        public ICommunicator Rank(int rank) => new Member(this, rank);

        private sealed class Member(ThreadGroup g, int rank) : ICommunicator
        {
            public int Rank => rank;
            public int Size => g._slots.Length;
            public void AllReduceSum(Span<float> values)
            {
                var all = Exchange(values.ToArray());
                for (int i = 0; i < values.Length; i++) { float s = 0; foreach (var a in all) s += ((float[])a)[i]; values[i] = s; }
                g._barrier.SignalAndWait();
            }
            public void AllReduceSum(Span<double> values)
            {
                var all = Exchange(values.ToArray());
                for (int i = 0; i < values.Length; i++) { double s = 0; foreach (var a in all) s += ((double[])a)[i]; values[i] = s; }
                g._barrier.SignalAndWait();
            }
            public void Broadcast(Span<byte> data, int root) { ((byte[])Exchange(data.ToArray())[root]).CopyTo(data); g._barrier.SignalAndWait(); }
            public void Broadcast(Span<float> data, int root) { ((float[])Exchange(data.ToArray())[root]).CopyTo(data); g._barrier.SignalAndWait(); }
            public void Barrier() => g._barrier.SignalAndWait();

            private object[] Exchange(object mine)
            {
                g._slots[rank] = mine;
                g._barrier.SignalAndWait();
                return g._slots.Select(s => s!).ToArray();
            }
        }
    }

    private static void OnRanks(int size, Action<ICommunicator> body)
    {
        var group = new ThreadGroup(size);
        var threads = Enumerable.Range(0, size).Select(r => new Thread(() => body(group.Rank(r)))).ToArray();
        foreach (var t in threads) t.Start();
        foreach (var t in threads) Assert.True(t.Join(TimeSpan.FromSeconds(30)), "a rank did not finish");
    }

    private static Variable[] Parameters(ulong seed) =>
    [
        new(TestUtil.RandN([3, 5], seed), requiresGrad: true, name: "a"),
        new(TestUtil.RandN([11], seed + 1), requiresGrad: true, name: "b"),
        new(TestUtil.RandN([4], seed + 2), requiresGrad: true, name: "c"),
        new(TestUtil.RandN([2], seed + 3), requiresGrad: true, name: "d"),
    ];

    [Fact]
    public void BucketedAllReduceSumsEachGradientOverTheRanks()
    {
        var grads = new float[3][][];
        var results = new Variable[3][];
        OnRanks(3, comm =>
        {
            int r = comm.Rank;
            var ps = Parameters(1);
            grads[r] = [TestUtil.RandN([3, 5], 10 + (ulong)r).ToArray<float>(), TestUtil.RandN([11], 20 + (ulong)r).ToArray<float>(), TestUtil.RandN([4], 30).ToArray<float>()];
            ps[0].Grad = Tensor.FromArray(grads[r][0], [3, 5]);
            ps[1].Grad = Tensor.FromArray(grads[r][1], [11]).Narrow(0, 0, 11); // a view is fine
            if (r == 2) ps[2].Grad = Tensor.FromArray(grads[r][2], [4]); // only rank 2 touched c; nobody touched d
            DataParallel.AllReduceGradients(ps, comm, bucketElements: 7);
            results[r] = ps;
        });
        for (int p = 0; p < 2; p++)
        {
            var want = new float[grads[0][p].Length];
            for (int i = 0; i < want.Length; i++) want[i] = grads[0][p][i] + grads[1][p][i] + grads[2][p][i];
            foreach (var ps in results) Assert.Equal(want, ps[p].Grad!.ToArray<float>());
        }
        foreach (var ps in results) Assert.Equal(grads[2][2], ps[2].Grad!.ToArray<float>());
        Assert.All(results, ps => Assert.Null(ps[3].Grad));
    }

    [Fact]
    public void BucketsStartDuringTheBackwardAndSumLikeTheReduceAfterIt()
    {
        var local = new float[2][][];
        var reduced = new float[2][][];
        var started = new int[2];
        OnRanks(2, comm =>
        {
            int r = comm.Rank;
            var w1 = new Variable(TestUtil.RandN([5, 7], 1), requiresGrad: true);
            var w2 = new Variable(TestUtil.RandN([7, 3], 2), requiresGrad: true);
            var unused = new Variable(TestUtil.RandN([4], 3), requiresGrad: true);
            var x = new Variable(TestUtil.RandN([6, 5], 10 + (ulong)r));
            Variable Loss() => (x.MatMul(w1).Tanh().MatMul(w2) * 0.5f).Sum();
            Loss().Backward();
            local[r] = [w1.Grad!.ToArray<float>(), w2.Grad!.ToArray<float>()];
            var buckets = new GradientBuckets([w1, unused, w2], comm, bucketElements: 8);
            for (int step = 0; step < 2; step++)
            {
                w1.Grad = w2.Grad = null;
                using (buckets.OverlapBackward()) Loss().Backward();
                buckets.Finish();
            }
            started[r] = buckets.StartedDuringBackward;
            reduced[r] = [w1.Grad!.ToArray<float>(), w2.Grad!.ToArray<float>()];
            Assert.Null(unused.Grad);
        });
        for (int p = 0; p < 2; p++)
        {
            var want = local[0][p].Zip(local[1][p], (a, b) => a + b).ToArray();
            Assert.Equal(want, reduced[0][p]);
            Assert.Equal(want, reduced[1][p]);
        }
        Assert.All(started, s => Assert.True(s >= 2, $"{s} buckets started during the backward")); // w2's before w1 is final
    }

    [Fact]
    public void ParametersAndFilesComeFromTheRoot()
    {
        var values = new float[2][][];
        var dir = Directory.CreateTempSubdirectory("bitdistill-bcast").FullName;
        try
        {
            var source = Path.Combine(dir, "root.bin");
            var bytes = Enumerable.Range(0, 100_003).Select(i => (byte)(i * 7)).ToArray();
            File.WriteAllBytes(source, bytes);
            OnRanks(2, comm =>
            {
                var ps = Parameters(comm.Rank == 0 ? 1UL : 99UL);
                long before = ps[0].Version;
                DataParallel.BroadcastParameters(ps, comm, bucketElements: 6);
                values[comm.Rank] = ps.Select(p => p.Value.ToArray<float>()).ToArray();
                Assert.True(ps[0].Version > before); // cached derivations (packed ternary weights) refresh
                DataParallel.BroadcastFile(source, Path.Combine(dir, $"copy{comm.Rank}.bin"), comm);
            });
            var root = Parameters(1).Select(p => p.Value.ToArray<float>()).ToArray();
            for (int p = 0; p < root.Length; p++) { Assert.Equal(root[p], values[0][p]); Assert.Equal(root[p], values[1][p]); }
            Assert.Equal(bytes, File.ReadAllBytes(Path.Combine(dir, "copy1.bin")));
            Assert.False(File.Exists(Path.Combine(dir, "copy0.bin"))); // the root keeps its own file
        }
        finally { Directory.Delete(dir, true); }
    }
}
