using BitDistill.Autograd;
using BitDistill.Models.Layers;
using BitDistill.Tensors;
using BitDistill.Tensors.SafeTensors;

namespace BitDistill.Tests.Autograd;

/// <summary>Ten steps of a two-layer MLP with AdamW (two parameter groups), global-norm clipping and a warm-up + cosine
/// schedule, against the trajectory PyTorch recorded (tests/fixtures/make_mlp_fixture.py).</summary>
public class TrainingParityTests
{
    private sealed class Mlp : Module
    {
        public readonly Linear Fc1, Fc2;
        public Mlp() { Fc1 = Child("fc1", new Linear(10, 32, true)); Fc2 = Child("fc2", new Linear(32, 5, true)); }
        public Variable Forward(Variable x) => Fc2.Forward(Fc1.Forward(x).Silu());
    }

    private static (Mlp model, AdamW opt, LrSchedule sched, Tensor x, Tensor y, SafeTensorsFile f) Setup()
    {
        var f = SafeTensorsFile.Open(TestUtil.FixturePath("parity", "mlp_adamw.safetensors"));
        var model = new Mlp();
        model.LoadStateDict(model.StateDict().Keys.ToDictionary(k => k, k => f.Load("init/" + k)));
        var named = model.NamedParameters().ToArray();
        var opt = new AdamW([
            new ParamGroup(named.Where(p => p.Name.EndsWith("weight")).Select(p => p.Param).ToArray(), WeightDecay: 0.1f),
            new ParamGroup(named.Where(p => p.Name.EndsWith("bias")).Select(p => p.Param).ToArray(), WeightDecay: 0f)],
            lr: 0.01f, beta1: 0.9f, beta2: 0.999f, eps: 1e-8f);
        return (model, opt, new LrSchedule.WarmupCosine(2, 10), f.Load("x"), f.Load("labels"), f);
    }

    private static double Step(Mlp model, AdamW opt, LrSchedule sched, Tensor x, Tensor y, int s, out float loss)
    {
        opt.ZeroGrad();
        var l = F.CrossEntropy(model.Forward(new Variable(x)), y);
        loss = l.Item();
        l.Backward();
        double norm = Optimizer.ClipGradNorm(opt.Params, 1.0);
        opt.Lr = (float)(0.01 * sched.Factor(s));
        opt.Step();
        return norm;
    }

    [Fact]
    public void TenStepsMatchPyTorch()
    {
        var (model, opt, sched, x, y, f) = Setup();
        using var _ = f;
        for (int s = 0; s < 10; s++)
        {
            if (s == 0)
            {
                var l0 = F.CrossEntropy(model.Forward(new Variable(x)), y);
                l0.Backward();
                foreach (var (n, p) in model.NamedParameters()) TestUtil.AssertClose(p.Grad!, f.Load($"step0/grad/{n}"), 1e-4, $"step0 grad {n}");
            }
            double norm = Step(model, opt, sched, x, y, s, out float loss);
            Assert.Equal(f.Load($"step{s}/loss").Item(), loss, 1e-4f * Math.Abs(loss));
            Assert.Equal(f.Load($"step{s}/grad_norm").Item(), norm, 1e-4 * norm);
            Assert.Equal(f.Load($"step{s}/lr").Item(), opt.Lr, 1e-9f);
            foreach (var (n, p) in model.NamedParameters()) TestUtil.AssertClose(p.Value, f.Load($"step{s}/param/{n}"), 1e-4, $"step {s} {n}");
        }
        foreach (var (n, p) in model.NamedParameters()) TestUtil.AssertClose(p.Value, f.Load($"final/{n}"), 1e-4, $"final {n}");
    }

    [Fact]
    public void ResumingFromACheckpointEndsWithIdenticalWeights()
    {
        var dir = Directory.CreateTempSubdirectory("bitdistill-resume").FullName;
        try
        {
            var (m1, o1, sched, x, y, f1) = Setup();
            using var _1 = f1;
            for (int s = 0; s < 10; s++) Step(m1, o1, sched, x, y, s, out _);
            var (m2, o2, _, _, _, f2) = Setup();
            using var _2 = f2;
            for (int s = 0; s < 4; s++) Step(m2, o2, sched, x, y, s, out _);
            m2.Save(Path.Combine(dir, "model.safetensors"));
            o2.Save(Path.Combine(dir, "optim.safetensors"));
            var (m3, o3, _, _, _, f3) = Setup();
            using var _3 = f3;
            m3.Load(Path.Combine(dir, "model.safetensors"));
            o3.Load(Path.Combine(dir, "optim.safetensors"));
            Assert.Equal(4, o3.StepCount);
            for (int s = 4; s < 10; s++) Step(m3, o3, sched, x, y, s, out _);
            foreach (var ((n, a), (_, b)) in m1.NamedParameters().Zip(m3.NamedParameters()))
                Assert.Equal(a.Value.ToArray<float>(), b.Value.ToArray<float>());
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void StateDictErrorsNameTheTensor()
    {
        var m = new Mlp();
        var sd = m.StateDict();
        sd["fc1.weight"] = Tensor.Zeros(3, 3);
        var ex = Assert.Throws<ArgumentException>(() => m.LoadStateDict(sd));
        Assert.Contains("fc1.weight", ex.Message);
        sd.Remove("fc1.weight");
        var ex2 = Assert.Throws<KeyNotFoundException>(() => m.LoadStateDict(sd));
        Assert.Contains("fc1.weight", ex2.Message);
        Assert.Equal(new[] { "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias" }, m.NamedParameters().Select(p => p.Name).ToArray());
    }

    [Fact]
    public void SchedulesMatchTheirDefinitions()
    {
        var c = new LrSchedule.WarmupCosine(2, 10);
        Assert.Equal(0, c.Factor(0)); Assert.Equal(0.5, c.Factor(1)); Assert.Equal(1, c.Factor(2));
        Assert.Equal(0.5, c.Factor(6), 12); Assert.Equal(0, c.Factor(10), 12);
        var l = new LrSchedule.WarmupLinear(2, 10);
        Assert.Equal(0.5, l.Factor(6), 12);
        Assert.Equal(0.25, new LrSchedule.WarmupCosine(0, 10, 0.25).Factor(10), 12);
    }

    [Fact]
    public void SgdWithMomentumMatchesHandComputation()
    {
        var p = new Variable(Tensor.FromArray(1f, -2f), requiresGrad: true);
        var opt = new Sgd([p], lr: 0.1f, momentum: 0.9f);
        for (int i = 0; i < 2; i++) { opt.ZeroGrad(); (p * p).Sum().Backward(); opt.Step(); }
        // step 1: g = 2p = [2, -4], buf = g, p = [0.8, -1.6]; step 2: g = [1.6, -3.2], buf = 0.9·[2,-4] + g = [3.4, -6.8], p = [0.46, -0.92]
        Assert.Equal(0.46f, p.Value.ToArray<float>()[0], 5);
        Assert.Equal(-0.92f, p.Value.ToArray<float>()[1], 5);
    }
}
