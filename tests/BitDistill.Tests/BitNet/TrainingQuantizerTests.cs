using BitDistill.Autograd;
using BitDistill.Kernels;
using BitDistill.Models;
using BitDistill.Models.BitNet;
using BitDistill.Models.Qwen;
using BitDistill.Tensors;

namespace BitDistill.Tests.BitNet;

/// <summary>The GPTQ-/AWQ-style training quantisers of BitLinear: the first training batch solves and the forward is that
/// solution, solves follow the step schedule, the AWQ gradient is the chain rule through diag(s) (finite differences of the
/// straight-through surrogate), and a saved model reloads with the identical forward.</summary>
public class TrainingQuantizerTests
{
    private static double[] GramOf(BitLinear layer) =>
        layer.StateDict()["qat_gram"].ToArray<float>().Select(v => (double)v).ToArray();

    [Fact]
    public void TheFirstTrainingBatchSolvesGptqAndTheForwardIsThatSolution()
    {
        int m = 9, k = 37, n = 13;
        var layer = new BitLinear(k, n, bias: false, new Generator(21), quantizer: WeightQuantizer.Gptq, requantEvery: 3);
        Assert.Equal(0, layer.QuantizerSolves);
        var x = TestUtil.RandN([m, k], 22);
        layer.Forward(new Variable(x));
        Assert.Equal(1, layer.QuantizerSolves);
        var w = layer.Weight.Value.ToArray<float>();
        var expected = TernaryCalibration.GptqFromGram(w, n, k, GramOf(layer));
        Assert.Equal(expected.Weights.Dequantized, layer.DequantizedWeight);
        // the running Gram matrix of one batch is XᵀX/m
        var xa = x.ToArray<float>();
        var gram = GramOf(layer);
        for (int i = 0; i < k; i += 5)
            for (int j = 0; j < k; j += 7)
                Assert.Equal(Enumerable.Range(0, m).Sum(t => (double)xa[t * k + i] * xa[t * k + j]) / m, gram[i * k + j], 1e-5);
    }

    [Fact]
    public void SolvesFollowTheStepScheduleAndCodesFollowTheLatentWeightBetweenThem()
    {
        var layer = new BitLinear(24, 10, bias: false, new Generator(23), quantizer: WeightQuantizer.Gptq, requantEvery: 3);
        var opt = new AdamW(layer.Parameters(), lr: 0.02f, weightDecay: 0);
        var solvesAfterStep = new List<int>();
        for (int step = 0; step < 7; step++)
        {
            opt.ZeroGrad();
            layer.Forward(new Variable(TestUtil.RandN([6, 24], (ulong)(100 + step)))).Square().Sum().Backward();
            var before = layer.DequantizedWeight;
            opt.Step();
            Assert.NotEqual(before, layer.DequantizedWeight); // re-rounded from the moved latent weight with the same solution
            layer.AfterOptimizerStep();
            solvesAfterStep.Add(layer.QuantizerSolves);
        }
        Assert.Equal(new[] { 1, 1, 2, 2, 2, 3, 3 }, solvesAfterStep);
        // evaluation forwards collect nothing and never solve
        var stats = GramOf(layer);
        layer.Eval();
        layer.Forward(new Variable(TestUtil.RandN([6, 24], 200)));
        Assert.Equal(stats, GramOf(layer));
        Assert.Equal(3, layer.QuantizerSolves);
    }

    [Theory]
    [InlineData(1f)]
    [InlineData(0.5f)]
    public void AwqGradientIsTheChainRuleThroughTheInputScales(float lambda)
    {
        int m = 48, k = 29, n = 11;
        var layer = new BitLinear(k, n, bias: false, new Generator(25), quantizer: WeightQuantizer.Awq);
        // input channels of very different magnitude σ_c and weight columns ∝ σ_c^−0.75, so AWQ picks α > 0 and s ≠ 1
        float Sigma(int c) => 0.1f + 3 * (c % 4);
        var xa = TestUtil.RandN([m, k], 26).ToArray<float>();
        for (int i = 0; i < xa.Length; i++) xa[i] *= Sigma(i % k);
        var wl = layer.Weight.Value.AsSpan<float>();
        for (int i = 0; i < wl.Length; i++) wl[i] *= MathF.Pow(Sigma(i % k), -0.75f);
        layer.Weight.MarkChanged();
        var x = Tensor.FromArray(xa, [m, k]);
        layer.Forward(new Variable(x));
        var s = layer.StateDict()["qat_input_scale"].ToArray<float>();
        Assert.Contains(s, v => Math.Abs(v - 1) > 0.05);

        layer.QuantizationStrength = lambda;
        var xv = new Variable(x, requiresGrad: true);
        var r = TestUtil.RandN([m, n], 27);
        layer.ZeroGrad();
        (layer.Forward(xv) * new Variable(r)).Sum().Backward();
        var dW = layer.Weight.Grad!.ToArray<float>();
        var dx = xv.Grad!.ToArray<float>();

        // the straight-through surrogate: y = x_eff(x/s)·w_eff(W·diag(s))ᵀ with x_eff = x' + λ(x̂' − x')·stop, w_eff = V + λ(V̂ − V)·stop
        var w = layer.Weight.Value.ToArray<float>();
        var vHat = layer.DequantizedWeight; // V̂ = ternarise(W·diag(s)), in x/s space
        var xs = new float[m * k];
        for (int t = 0; t < m; t++) for (int c = 0; c < k; c++) xs[t * k + c] = xa[t * k + c] / s[c];
        var q = new sbyte[m * k]; var aScale = new float[m]; var sums = new int[m];
        ActivationQuantizer.QuantizePerTokenReference(xs, m, k, q, aScale, sums);
        var xHat = new double[m * k];
        for (int t = 0; t < m; t++) for (int c = 0; c < k; c++) xHat[t * k + c] = q[t * k + c] * (double)(1f / aScale[t]);
        var ra = r.ToArray<float>();
        double Surrogate(double[] wv, double[] xv2, double[] xsBase, double[] wBase)
        {
            double acc = 0;
            for (int t = 0; t < m; t++)
                for (int o = 0; o < n; o++)
                {
                    double y = 0;
                    for (int c = 0; c < k; c++)
                    {
                        double xe = xv2[t * k + c] / s[c] + lambda * (xHat[t * k + c] - xsBase[t * k + c]);
                        double we = wv[o * k + c] * s[c] + lambda * (vHat[o * k + c] - wBase[o * k + c] * s[c]);
                        y += xe * we;
                    }
                    acc += y * ra[t * n + o];
                }
            return acc;
        }
        var wd = w.Select(v => (double)v).ToArray();
        var xd = xa.Select(v => (double)v).ToArray();
        var xsd = xs.Select(v => (double)v).ToArray();
        const double h = 1e-3;
        for (int i = 0; i < n * k; i += 13)
        {
            var wp = (double[])wd.Clone(); wp[i] += h;
            var wm = (double[])wd.Clone(); wm[i] -= h;
            double fd = (Surrogate(wp, xd, xsd, wd) - Surrogate(wm, xd, xsd, wd)) / (2 * h);
            Assert.True(Math.Abs(fd - dW[i]) <= 1e-3 * (1 + Math.Abs(fd)), $"dW[{i}]: finite difference {fd}, layer {dW[i]}");
        }
        for (int i = 0; i < m * k; i += 37)
        {
            var xp = (double[])xd.Clone(); xp[i] += h;
            var xm = (double[])xd.Clone(); xm[i] -= h;
            double fd = (Surrogate(wd, xp, xsd, wd) - Surrogate(wd, xm, xsd, wd)) / (2 * h);
            Assert.True(Math.Abs(fd - dx[i]) <= 1e-3 * (1 + Math.Abs(fd)), $"dx[{i}]: finite difference {fd}, layer {dx[i]}");
        }
    }

    private static QwenModel Tiny() => new(QwenConfig.Parse("""
        {"model_type": "qwen3", "vocab_size": 61, "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2,
         "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 12, "rms_norm_eps": 1e-6, "rope_theta": 10000,
         "tie_word_embeddings": true, "max_position_embeddings": 128, "hidden_act": "silu"}
        """), new Generator(5));

    [Theory]
    [InlineData(WeightQuantizer.Gptq)]
    [InlineData(WeightQuantizer.Awq)]
    public void ASavedStudentReloadsWithTheIdenticalForward(WeightQuantizer kind)
    {
        var dir = Directory.CreateTempSubdirectory("bitdistill-qat").FullName;
        try
        {
            var student = Refiner.Refine(Tiny(), new BitNetConfig { SubLn = SubLnPlacement.Paper, WeightQuant = kind, RequantEvery = 2 });
            var opt = new AdamW(student.Parameters(), lr: 0.01f, weightDecay: 0);
            var ids = Tensor.FromArray(new long[] { 4, 8, 15, 16, 23, 42, 7, 1 }, [2, 4]);
            for (int step = 0; step < 3; step++)
            {
                opt.ZeroGrad();
                student.Forward(ids).Square().Mean().Backward();
                opt.Step();
                Refiner.AfterOptimizerStep(student);
            }
            Assert.All(Refiner.BitLinears(student), l => Assert.Equal(2, l.Layer.QuantizerSolves));
            student.SavePretrained(dir);
            var cfg = BitNetConfig.From(ModelRegistry.FromPretrained(dir).Config)!;
            Assert.Equal(kind, cfg.WeightQuant);
            Assert.Equal(2, cfg.RequantEvery);
            var back = ModelRegistry.FromPretrained(dir);
            student.Eval(); back.Eval();
            var probe = Tensor.FromArray(new long[] { 3, 1, 4, 1, 5, 9, 2, 6 }, [1, 8]);
            Assert.Equal(student.Forward(probe).Value.ToArray<float>(), back.Forward(probe).Value.ToArray<float>());
            foreach (var (name, t) in student.StateDict()) Assert.Equal(t.ToArray<float>(), back.StateDict()[name].ToArray<float>());
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void TheConfigRoundTripsAndRejectsBadValuesNamingTheField()
    {
        var c = new BitNetConfig { WeightQuant = WeightQuantizer.Awq, RequantEvery = 7, StatsDecay = 0.5 };
        Assert.Equal(c, BitNetConfig.Parse(c.ToJson(), "config.json"));
        Assert.Equal(new BitNetConfig(), BitNetConfig.Parse(new BitNetConfig().ToJson(), "config.json"));
        foreach (var (json, field) in new[]
        {
            ("""{"weight_quant": "hqq"}""", "bitnet.weight_quant"),
            ("""{"weight_quant": "gptq", "requant_every": 0}""", "bitnet.requant_every"),
            ("""{"weight_quant": "gptq", "stats_decay": 1}""", "bitnet.stats_decay"),
            ("""{"weight_quant": "awq", "calibration": "gptq"}""", "bitnet.calibration"),
        })
        {
            var e = Assert.Throws<ModelConfigException>(() => BitNetConfig.Parse(System.Text.Json.Nodes.JsonNode.Parse(json)!, "config.json"));
            Assert.Contains(field, e.Message);
        }
    }
}
