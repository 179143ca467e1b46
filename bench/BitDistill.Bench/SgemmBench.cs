using BenchmarkDotNet.Attributes;
using BitDistill.Kernels;

namespace BitDistill.Bench;

/// <summary>BenchmarkDotNet timing of <see cref="Sgemm.Multiply"/> at the shapes the peer comparison uses (M×K×N).</summary>
[MemoryDiagnoser]
public class SgemmBench
{
    private float[] _a = [], _b = [], _c = [];

    /// <summary>The product shape, "M×K×N".</summary>
    [Params("1024x1024x1024", "2048x256x768", "2048x768x256")]
    public string Shape { get; set; } = "1024x1024x1024";

    /// <summary>Degree of parallelism.</summary>
    [Params(1, 2)]
    public int Threads { get; set; }

    private int _m, _k, _n;

    /// <summary>Allocates random operands.</summary>
    [GlobalSetup]
    public void Setup()
    {
        var d = Shape.Split('x').Select(int.Parse).ToArray();
        (_m, _k, _n) = (d[0], d[1], d[2]);
        var rng = new Random(1);
        _a = Enumerable.Range(0, _m * _k).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        _b = Enumerable.Range(0, _k * _n).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        _c = new float[_m * _n];
        KernelContext.Default = KernelContext.Default with { DegreeOfParallelism = Threads };
    }

    /// <summary>C = A·B.</summary>
    [Benchmark]
    public void Multiply() => Sgemm.Multiply(false, false, _m, _n, _k, 1f, _a, _k, _b, _n, 0f, _c, _n);
}
