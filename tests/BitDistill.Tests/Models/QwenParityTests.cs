using BitDistill.Autograd;
using BitDistill.Distill.Objectives;
using BitDistill.Models;
using BitDistill.Models.Layers;
using BitDistill.Models.Qwen;
using BitDistill.Tensors;
using BitDistill.Tensors.SafeTensors;
using Xunit.Abstractions;
using static BitDistill.Tests.TestUtil;

namespace BitDistill.Tests.Models;

/// <summary>Parity of the Qwen3/Qwen2 models with an independent float64 PyTorch implementation (tests/fixtures/make_qwen_fixtures.py):
/// BF16 checkpoints in the Hugging Face layout, logits, the shifted cross-entropy and the gradient of every parameter.</summary>
public sealed class QwenParityTests(ITestOutputHelper output)
{
    public static TheoryData<string, string> Cases() => new()
    {
        { "qwen3-tied", "nomask" }, { "qwen3-tied", "mask" },
        { "qwen3-untied-bias", "nomask" }, { "qwen3-untied-bias", "mask" },
        { "qwen2-tied", "nomask" }, { "qwen2-tied", "mask" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void LogitsLossAndEveryGradientMatchPyTorch(string name, string variant)
    {
        var model = QwenModel.FromPretrained(FixturePath("qwen", name));
        using var reference = SafeTensorsFile.Open(FixturePath("qwen", name, "reference.safetensors"));
        var ids = reference.Load($"{variant}/input_ids");
        var mask = variant == "mask" ? reference.Load($"{variant}/attention_mask") : null;
        var labels = reference.Load($"{variant}/labels");

        // positions derived from the mask, as the reference (and Hugging Face's generate) does
        var (positions, _) = QwenTransformer.Positions(ids.Shape[0], ids.Shape[1], 0, mask, Device.Cpu);
        Assert.Equal(reference.Load($"{variant}/positions").ToArray<long>(), positions.SelectMany(p => p).Select(p => (long)p).ToArray());

        var logits = model.Forward(ids, mask);
        double logitsErr = RelErr(logits.Value.ToFloatArray(), reference.Load($"{variant}/logits").ToFloatArray());
        var loss = CausalLmObjective.FromLogits(logits, labels);
        double lossErr = Math.Abs(loss.Item() - reference.Load($"{variant}/loss").Item()) / Math.Abs(reference.Load($"{variant}/loss").Item());
        loss.Backward();

        double worstGrad = 0; string worstName = "";
        int count = 0;
        foreach (var (pname, p) in model.NamedParameters())
        {
            Assert.NotNull(p.Grad);
            double e = RelErr(p.Grad!.ToFloatArray(), reference.Load($"{variant}/grad/{pname}").ToFloatArray());
            Assert.True(e <= 1e-4, $"{name}/{variant}: gradient of {pname}: relative error {e:E3}");
            if (e > worstGrad) { worstGrad = e; worstName = pname; }
            count++;
        }
        Assert.Equal(reference.Names.Count(n => n.StartsWith($"{variant}/grad/", StringComparison.Ordinal)), count);
        output.WriteLine($"{name}/{variant}: logits {logitsErr:E2}, loss {lossErr:E2}, worst of {count} gradients {worstGrad:E2} ({worstName})");
        Assert.True(logitsErr <= 1e-4, $"logits relative error {logitsErr:E3}");
        Assert.True(lossErr <= 1e-4, $"loss relative error {lossErr:E3}");

        // the default labels (ids, padding ignored) are the reference's labels
        Assert.Equal(labels.ToArray<long>(), CausalLmObjective.LabelsFromIds(ids, mask).ToArray<long>());
    }

    [Fact]
    public void LoadedParametersAreTheBf16WeightsAndTiedHeadSharesEmbedding()
    {
        var tied = QwenModel.FromPretrained(FixturePath("qwen", "qwen3-tied"));
        Assert.Null(tied.LmHead);
        Assert.Same(tied.Model.EmbedTokens.Weight, tied.OutputWeight);
        Assert.DoesNotContain(tied.NamedParameters(), p => p.Name == "lm_head.weight");
        var untied = QwenModel.FromPretrained(FixturePath("qwen", "qwen3-untied-bias"));
        Assert.NotNull(untied.LmHead);
        Assert.Equal(ModelRegistry.ParameterShapes(untied.Config).Select(s => s.Name), untied.NamedParameters().Select(p => p.Name));
        using var st = SafeTensorsFile.Open(FixturePath("qwen", "qwen3-untied-bias", "model.safetensors"));
        foreach (var (n, p) in untied.NamedParameters())
            Assert.Equal(st.Load(n).To(DType.Float32).ToArray<float>(), p.Value.ToArray<float>());
    }

    [Fact]
    public void CaptureRecordsHiddenStatesAndQkvAfterNormAndRope()
    {
        var model = QwenModel.FromPretrained(FixturePath("qwen", "qwen3-tied"));
        using var reference = SafeTensorsFile.Open(FixturePath("qwen", "qwen3-tied", "reference.safetensors"));
        var ids = reference.Load("nomask/input_ids");
        var cap = new ForwardCapture(hiddenStates: true, 1);
        var logits = model.Forward(ids, null, cap);
        Assert.Equal(model.Config.NumHiddenLayers + 1, cap.HiddenStates.Count);
        Assert.Equal([2, 9, 48], cap.HiddenStates[^1].Shape.ToArray());
        var (q, k, v) = cap.Qkv[1];
        Assert.Equal([2, 4, 9, 16], q.Shape.ToArray());
        Assert.Equal([2, 2, 9, 16], k.Shape.ToArray());
        Assert.Equal([2, 2, 9, 16], v.Shape.ToArray());
        Assert.Single(cap.Qkv);
        // Int32 ids give the same logits as Int64 ids
        Assert.Equal(logits.Value.ToArray<float>(), model.Forward(ids.To(DType.Int32)).Value.ToArray<float>());
        // the last hidden state is what the head sees
        AssertClose(F.Linear(cap.HiddenStates[^1], model.OutputWeight).Value, logits.Value, 1e-6, "logits from captured hidden state");
        // a loss on the captured Q reaches the parameters of layers ≤ 1 only
        model.ZeroGrad();
        (q * q).Sum().Backward();
        Assert.NotNull(model.Model.Layers[1].SelfAttn.QProj is Linear l ? l.Weight.Grad : null);
        Assert.Null(model.Model.Layers[2].SelfAttn.QProj is Linear l2 ? l2.Weight.Grad : null);
    }

    [Fact]
    public void IncrementalDecodingWithKvCacheMatchesTheFullForward()
    {
        var model = QwenModel.FromPretrained(FixturePath("qwen", "qwen2-tied"));
        using var reference = SafeTensorsFile.Open(FixturePath("qwen", "qwen2-tied", "reference.safetensors"));
        var ids = reference.Load("mask/input_ids");
        var mask = reference.Load("mask/attention_mask");
        using var _ = GradMode.NoGrad();
        var full = model.Forward(ids, mask).Value;
        var cache = new KvCache(model.Config.NumHiddenLayers);
        var first = model.Forward(ids.Narrow(1, 0, 5).Contiguous(), mask.Narrow(1, 0, 5).Contiguous(), null, cache).Value;
        var rest = model.Forward(ids.Narrow(1, 5, 4).Contiguous(), mask, null, cache).Value;
        Assert.Equal(9, cache.Length);
        AssertClose(first, full.Narrow(1, 0, 5).Contiguous(), 1e-5, "prefix");
        AssertClose(rest, full.Narrow(1, 5, 4).Contiguous(), 1e-5, "continuation");
    }

    [Fact]
    public void ReplacingProjectionsThroughModuleSurgeryIsUsedByForward()
    {
        var model = QwenModel.FromPretrained(FixturePath("qwen", "qwen3-tied"));
        var ids = Tensor.FromArray(new long[] { 1, 2, 3, 4 }, [1, 4]);
        var before = model.Forward(ids).Value;
        var attn = model.Model.Layers[0].SelfAttn;
        var old = (Linear)attn.OProj;
        var scaled = new ScaledLinear(old);
        attn.ReplaceChild("o_proj", scaled);
        Assert.Same(scaled, attn.OProj);
        var after = model.Forward(ids).Value;
        Assert.True(scaled.Calls > 0);
        Assert.True(RelErr(after.ToFloatArray(), before.ToFloatArray()) > 1e-3);
        Assert.Contains(model.NamedParameters(), p => p.Name == "model.layers.0.self_attn.o_proj.weight");
    }

    private sealed class ScaledLinear(Linear inner) : Linear(inner.InFeatures, inner.OutFeatures, inner.Bias is not null)
    {
        public int Calls;
        public override Variable Forward(Variable x) { Calls++; return inner.Forward(x) * 2f; }
    }
}
