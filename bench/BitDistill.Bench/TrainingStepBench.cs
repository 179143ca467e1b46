using BenchmarkDotNet.Attributes;
using BitDistill.Autograd;
using BitDistill.Models.Layers;
using BitDistill.Tensors;

namespace BitDistill.Bench;

/// <summary>One training step (forward, backward, clipping, AdamW) of a 3-layer MLP, with and without a TensorScope,
/// to measure allocations per step with the memory diagnoser (Gen2 collections must be 0 with the scope).</summary>
[MemoryDiagnoser]
public class TrainingStepBench
{
    private sealed class Mlp : Module
    {
        public readonly Linear A, B, C;
        public Mlp(Generator g) { A = Child("a", new Linear(512, 1024, true, g)); B = Child("b", new Linear(1024, 1024, true, g)); C = Child("c", new Linear(1024, 64, true, g)); }
        public Variable Forward(Variable x) => C.Forward(B.Forward(A.Forward(x).Silu()).Silu());
    }

    private Mlp _model = null!;
    private AdamW _opt = null!;
    private Tensor _x = null!, _y = null!;

    [GlobalSetup]
    public void Setup()
    {
        var g = new Generator(1);
        _model = new Mlp(g);
        _opt = new AdamW(_model.Parameters(), lr: 1e-3f);
        _x = Tensor.Normal([128, 512], g);
        _y = Tensor.FromArray(Enumerable.Range(0, 128).Select(i => (long)(i % 64)).ToArray(), [128]);
    }

    private void Step()
    {
        _opt.ZeroGrad();
        var loss = F.CrossEntropy(_model.Forward(new Variable(_x)), _y);
        loss.Backward();
        Optimizer.ClipGradNorm(_opt.Params, 1.0);
        _opt.Step();
    }

    /// <summary>Intermediates from the pool: steady-state allocations are bookkeeping objects only.</summary>
    [Benchmark(Baseline = true)]
    public void PooledStep()
    {
        using var scope = TensorScope.Begin();
        Step();
    }

    /// <summary>Every intermediate is a fresh array (what the pool avoids).</summary>
    [Benchmark]
    public void UnpooledStep() => Step();
}
