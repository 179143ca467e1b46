using BitDistill.Kernels;
using BitDistill.Tensors;

namespace BitDistill.Tests.Tensors;

/// <summary>Views, creation, random numbers and data access of the Tensor type.</summary>
public class TensorCoreTests
{
    private static Tensor Iota(params int[] shape) => Tensor.Arange(0, Tensor.Zeros(shape).Count).View(shape);

    [Fact]
    public unsafe void EmptyAlignedTensorsStartOnA64ByteBoundaryZeroFilled()
    {
        foreach (var dtype in new[] { DType.Float32, DType.Float16, DType.BFloat16, DType.Int8, DType.UInt8, DType.Int32, DType.Int64 })
            foreach (var shape in new[] { new[] { 3, 5 }, new[] { 1 }, new[] { 0, 7 }, new[] { 2, 3, 11 } })
            {
                var t = Tensor.EmptyAligned(shape, dtype);
                Assert.Equal(shape, t.ShapeArray);
                Assert.True(t.IsContiguous);
                var array = ((ManagedStorage)t.Storage).Array;
                nint address = (nint)System.Runtime.CompilerServices.Unsafe.AsPointer(ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(array));
                Assert.Equal(0, (address + (nint)t.Offset * dtype.SizeOf()) % 64);
                Assert.True(t.Offset * dtype.SizeOf() < 64);
                Assert.All(((ManagedStorage)t.Storage).AsBytes().ToArray(), b => Assert.Equal(0, b));
                t.Fill(1); // every element writable, none shared with another tensor
                Assert.Equal(t.Count, (int)t.To(DType.Float32).Sum().Item());
            }
        Assert.Throws<NotSupportedException>(() => Tensor.EmptyAligned([2], DType.Bool));
    }

    [Fact]
    public void ViewsShareStorageAndIndexCorrectly()
    {
        var x = Iota(2, 3, 4);
        var p = x.Permute(2, 0, 1);
        Assert.Same(x.Storage, p.Storage);
        Assert.Equal(new[] { 4, 2, 3 }, p.ShapeArray);
        Assert.False(p.IsContiguous);
        // element [k, i, j] of p is x[i, j, k] = 12i + 4j + k
        var pv = p.Contiguous().ToArray<float>();
        Assert.Equal(12 * 1 + 4 * 2 + 3, pv[3 * 6 + 1 * 3 + 2]);
        Assert.Equal(new[] { 1f, 5, 9 }, x.Select(0, 0).Select(1, 1).ToArray<float>());
        Assert.Equal(new[] { 13f, 15 }, x.Narrow(0, 1, 1).Narrow(1, 0, 1).Slice(2, 1, 4, 2).ToArray<float>());
        var e = Tensor.FromArray(new[] { 1f, 2, 3 }, [3, 1]).Expand(2, 3, 4);
        Assert.Equal(0, e.Strides[0]); Assert.Equal(0, e.Strides[2]);
        Assert.Equal(24, e.Contiguous().Count);
        Assert.Equal(new[] { 2, 1, 3, 4 }, x.Unsqueeze(1).ShapeArray);
        Assert.Equal(new[] { 2, 3, 4 }, x.Unsqueeze(-1).Squeeze().ShapeArray);
        Assert.Equal(new[] { 6, 4 }, x.Flatten(0, 1).ShapeArray);
    }

    [Fact]
    public void ViewVersusReshape()
    {
        var x = Iota(4, 6);
        Assert.Same(x.Storage, x.View(2, 12).Storage);
        Assert.Same(x.Storage, x.View(-1).Storage);
        Assert.Same(x.Storage, x.Narrow(0, 1, 2).View(12).Storage); // rows stay contiguous
        var t = x.T;
        Assert.Throws<InvalidOperationException>(() => t.View(24));
        var r = t.Reshape(24);
        Assert.NotSame(x.Storage, r.Storage);
        Assert.Equal(new[] { 0f, 6, 12, 18, 1 }, r.ToArray<float>()[..5]);
        // splitting a transposed dim is still a view
        Assert.Same(x.Storage, t.View(2, 3, 4).Storage);
        Assert.Equal(t.Contiguous().View(2, 3, 4).ToArray<float>(), t.View(2, 3, 4).ToArray<float>());
        Assert.Throws<ArgumentException>(() => x.View(5, 5));
        Assert.Throws<ArgumentException>(() => x.View(-1, -1));
    }

    [Fact]
    public void CreationAndAccess()
    {
        Assert.All(Tensor.Ones(3, 5).ToArray<float>(), v => Assert.Equal(1f, v));
        Assert.Equal(new[] { 1.5f, 2.0f, 2.5f }, Tensor.Arange(1.5, 3, 0.5).ToArray<float>());
        Assert.Equal(new long[] { 0, 1, 2 }, Tensor.Arange(0, 3, 1, DType.Int64).ToArray<long>());
        Assert.Equal(7f, Tensor.Full([2, 2], 7).Sum().Item() / 4);
        Assert.Equal(3f, Tensor.Scalar(3).Item());
        Assert.Throws<ArgumentException>(() => Tensor.FromArray(new float[5], [2, 3]));
        Assert.Throws<InvalidOperationException>(() => Tensor.Ones(2).Item());
        var x = Iota(3, 4);
        x.Narrow(1, 1, 2).Fill(-1);
        Assert.Equal(new[] { 0f, -1, -1, 3 }, x.Select(0, 0).ToArray<float>());
        x.Select(1, 0).CopyFrom(Tensor.FromArray(9f));
        Assert.Equal(new[] { 9f, 9, 9 }, x.Select(1, 0).ToArray<float>());
    }

    [Fact]
    public void RandomIsSeededAndIndependentOfThreads()
    {
        float[] Draw(int dop)
        {
            using var _ = KernelContext.Override(degreeOfParallelism: dop);
            var g = new Generator(1234);
            return [.. Tensor.Normal([1001], g).ToArray<float>(), .. Tensor.Uniform([33], g).ToArray<float>(), .. Tensor.TruncatedNormal([17], g, 0, 0.02f).ToArray<float>()];
        }
        var a = Draw(1); var b = Draw(2);
        Assert.Equal(a, b);
        Assert.NotEqual(a, Tensor.Normal([1001], new Generator(1235)).ToArray<float>().Concat(a[1001..]).ToArray());
        // consecutive draws differ
        var g2 = new Generator(7);
        Assert.NotEqual(Tensor.Normal([8], g2).ToArray<float>(), Tensor.Normal([8], g2).ToArray<float>());
    }

    [Fact]
    public void RandomDistributionsHaveTheRightMoments()
    {
        var g = new Generator(99);
        var n = Tensor.Normal([200_000], g, 1.5f, 2f).ToArray<float>();
        double mean = n.Average(v => (double)v), sd = Math.Sqrt(n.Average(v => (v - mean) * (v - mean)));
        Assert.InRange(mean, 1.5 - 0.02, 1.5 + 0.02);
        Assert.InRange(sd, 2 - 0.02, 2 + 0.02);
        // tail frequency |z| > 2 ≈ 4.55 %
        double tail = n.Count(v => Math.Abs(v - 1.5) > 4) / (double)n.Length;
        Assert.InRange(tail, 0.0425, 0.0485);
        var u = Tensor.Uniform([100_000], g, -1, 3).ToArray<float>();
        Assert.All(u, v => Assert.InRange(v, -1f, 3f));
        Assert.InRange(u.Average(v => (double)v), 0.98, 1.02);
        var t = Tensor.TruncatedNormal([50_000], g, 0, 0.02f).ToArray<float>();
        Assert.All(t, v => Assert.InRange(v, -0.04f, 0.04f));
        // std of N(0,1) truncated at ±2 is 0.8796
        double tsd = Math.Sqrt(t.Average(v => (double)v * v)) / 0.02;
        Assert.InRange(tsd, 0.87, 0.89);
    }

    [Fact]
    public void DeterministicMathMatchesTheLibrary()
    {
        var g = new Generator(5);
        foreach (var v in Tensor.Uniform([2000], g, 0, 1).ToArray<float>())
        {
            double x = v + 1e-9;
            Assert.True(Math.Abs(Math.Log(x) - DeterministicMath.Log(x)) <= 1e-15 * Math.Max(1, Math.Abs(Math.Log(x))), $"log({x})");
            var (s, c) = DeterministicMath.SinCos2Pi(v);
            Assert.True(Math.Abs(Math.Sin(2 * Math.PI * v) - s) < 1e-14, $"sin(2π·{v})");
            Assert.True(Math.Abs(Math.Cos(2 * Math.PI * v) - c) < 1e-14, $"cos(2π·{v})");
        }
        Assert.Equal(Math.Log(1e-300), DeterministicMath.Log(1e-300), 10);
        Assert.Equal(Math.Log(5e-324), DeterministicMath.Log(5e-324), 10); // subnormal
        // erf against known values
        Assert.Equal(0.8427007929497149, DeterministicMath.Erf(1), 14);
        Assert.Equal(-0.9953222650189527, DeterministicMath.Erf(-2), 14);
        Assert.Equal(0.9999999845827421, DeterministicMath.Erf(4), 14);
        Assert.Equal(1.0, DeterministicMath.Erf(10), 15);
    }

    [Fact]
    public void ErrorsNameTheProblem()
    {
        var x = Tensor.Zeros(2, 3);
        var ex = Assert.Throws<ArgumentException>(() => x + Tensor.Zeros(4));
        Assert.Contains("[2, 3]", ex.Message); Assert.Contains("[4]", ex.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => x.Sum(2));
        Assert.Throws<ArgumentException>(() => x + x.To(Device.Reference));
    }
}
