using BitDistill.Autograd;
using BitDistill.Distill.Objectives;
using BitDistill.Models;
using BitDistill.Tensors;
using BitDistill.Tensors.SafeTensors;
using Xunit.Abstractions;

namespace BitDistill.Tests.Distill;

/// <summary>The stage-3 losses against PyTorch (float64 reference from the same float32 inputs, written independently by
/// tests/fixtures/make_distill_fixtures.py): logits distillation fused with the heads (alone, and fused with the
/// cross-entropy on the same rows) (with a row mask, and over all rows;
/// teacher and student hidden sizes differ) and attention-relation distillation (teacher and student with different head
/// counts, KV-head counts and head_dim; padding; both relation kinds). Bound: whole-tensor relative error ≤ 1e-4 for the
/// loss and every student gradient.</summary>
public class DistillationLossParityTests(ITestOutputHelper output)
{
    private static readonly Lazy<SafeTensorsFile> File = new(() => SafeTensorsFile.Open(TestUtil.FixturePath("parity", "distill.safetensors")));

    private static Tensor In(string c, string name) => File.Value.Load($"{c}/in/{name}");

    private void Check(string c, Variable loss, params (string Name, Variable V)[] grads)
    {
        var f = File.Value;
        var expected = f.Load($"{c}/out");
        double e = TestUtil.RelErr([loss.Value.Item()], [expected.Reshape(1).ToArray<float>()[0]]);
        output.WriteLine($"{c}: loss {loss.Value.Item():G8} vs {expected.Reshape(1).ToArray<float>()[0]:G8}, relative error {e:E2}");
        Assert.True(e <= 1e-4, $"{c}: loss relative error {e:E3}");
        loss.Backward(f.Load($"{c}/gout").Reshape([]));
        foreach (var (name, v) in grads)
        {
            Assert.NotNull(v.Grad);
            double ge = TestUtil.RelErr(v.Grad!.ToFloatArray(), f.Load($"{c}/grad/{name}").ToFloatArray());
            output.WriteLine($"{c}: grad {name} relative error {ge:E2}");
            Assert.True(ge <= 1e-4, $"{c}: grad {name} relative error {ge:E3}");
        }
    }

    [Theory]
    [InlineData("ld_masked")]
    [InlineData("ld_all")]
    public void LogitsDistillationMatchesPyTorch(string c)
    {
        var hs = new Variable(In(c, "hs"), requiresGrad: true); var ws = new Variable(In(c, "ws"), requiresGrad: true);
        var rows = c == "ld_masked" ? In(c, "rows") : null;
        Check(c, F.LinearKlDistillation(hs, ws, In(c, "ht"), In(c, "wt"), 5f, rows), ("hs", hs), ("ws", ws));
        // the materialised path (non-linear heads fall back to it) agrees too
        var hs2 = new Variable(In(c, "hs"), requiresGrad: true); var ws2 = new Variable(In(c, "ws"), requiresGrad: true);
        var zt = new Variable(In(c, "ht").MatMul(In(c, "wt").T));
        Check(c, F.KlDivWithTemperature(hs2.MatMul(ws2.T), zt, 5f, rows), ("hs", hs2), ("ws", ws2));
    }

    [Fact]
    public void CrossEntropyWithLogitsDistillationMatchesPyTorch()
    {
        const string c = "ce_ld";
        var hs = new Variable(In(c, "hs"), requiresGrad: true); var ws = new Variable(In(c, "ws"), requiresGrad: true);
        var targets = In(c, "targets").To(DType.Int64);
        Check(c, F.LinearCrossEntropyWithDistillation(hs, ws, targets, In(c, "ht"), In(c, "wt"), 5f, 10f).Total, ("hs", hs), ("ws", ws));
    }

    [Theory]
    [InlineData("ad_scaled", RelationKind.ScaledDotProduct)]
    [InlineData("ad_l2", RelationKind.L2Normalized)]
    public void AttentionRelationDistillationMatchesPyTorch(string c, RelationKind kind)
    {
        var sq = new Variable(In(c, "sq"), requiresGrad: true);
        var sk = new Variable(In(c, "sk"), requiresGrad: true);
        var sv = new Variable(In(c, "sv"), requiresGrad: true);
        var teacher = new AttentionCapture(new Variable(In(c, "tq")), new Variable(In(c, "tk")), new Variable(In(c, "tv")));
        var loss = AttentionRelationLoss.Compute(new AttentionCapture(sq, sk, sv), teacher, In(c, "mask"), relationHeads: 4, kind);
        Check(c, loss, ("sq", sq), ("sk", sk), ("sv", sv));
    }
}
