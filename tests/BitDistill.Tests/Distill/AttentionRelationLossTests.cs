using BitDistill.Autograd;
using BitDistill.Distill.Objectives;
using BitDistill.Models;
using BitDistill.Tensors;

namespace BitDistill.Tests.Distill;

/// <summary>Attention-relation distillation as a whole (splitting into relation heads, L2 normalisation, the relation KL of
/// Q, K and V): finite-difference gradients for teacher and student of different shapes, invariance to padding, zero
/// loss for identical relations, and the error naming the field when the width does not split.</summary>
public class AttentionRelationLossTests
{
    private static Tensor R(ulong seed, params int[] shape) => TestUtil.Rand(shape, seed, -1.5f, 1.5f);

    public static IEnumerable<object[]> Kinds() => Enum.GetValues<RelationKind>().Select(k => new object[] { k });

    [Theory, MemberData(nameof(Kinds))]
    public void GradientsMatchFiniteDifferences(RelationKind kind)
    {
        var teacher = new AttentionCapture(new Variable(R(1, 2, 6, 5, 4)), new Variable(R(2, 2, 3, 5, 4)), new Variable(R(3, 2, 3, 5, 4)));
        var mask = Tensor.FromArray(new float[] { 1, 1, 1, 1, 1, 1, 1, 1, 0, 0 }, [2, 5]);
        var errs = GradCheck.Check(v => AttentionRelationLoss.Compute(new AttentionCapture(v[0], v[1], v[2]), teacher, mask, relationHeads: 4, kind),
            [R(4, 2, 4, 5, 3), R(5, 2, 2, 5, 6), R(6, 2, 1, 5, 8)], null, h: 1e-2);
        foreach (var e in errs) Assert.True(e.RelativeError < 2e-3, $"{kind}: input {e.Input} gradient relative error {e.RelativeError:E2}");
    }

    [Theory, MemberData(nameof(Kinds))]
    public void PaddingDoesNotChangeTheLoss(RelationKind kind)
    {
        // the same two sequences of 4 tokens, then with 3 padding tokens of arbitrary content appended
        var x = new[] { R(10, 2, 4, 4, 4), R(11, 2, 2, 4, 4), R(12, 2, 2, 4, 4), R(13, 2, 2, 4, 8), R(14, 2, 1, 4, 8), R(15, 2, 1, 4, 8) };
        Variable Pad(Tensor t, ulong seed) => new(Tensor.Concat([t, R(seed, t.Size(0), t.Size(1), 3, t.Size(3))], 2));
        var plain = AttentionRelationLoss.Compute(new AttentionCapture(new(x[0]), new(x[1]), new(x[2])), new AttentionCapture(new(x[3]), new(x[4]), new(x[5])), null, 8, kind);
        var mask = Tensor.FromArray(new float[] { 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0 }, [2, 7]);
        var padded = AttentionRelationLoss.Compute(new AttentionCapture(Pad(x[0], 20), Pad(x[1], 21), Pad(x[2], 22)),
            new AttentionCapture(Pad(x[3], 23), Pad(x[4], 24), Pad(x[5], 25)), mask, 8, kind);
        Assert.True(plain.Value.Item() > 0);
        Assert.Equal(plain.Value.Item(), padded.Value.Item(), 5);
    }

    [Fact]
    public void IdenticalRelationsGiveZeroLoss()
    {
        var q = new Variable(R(30, 1, 2, 5, 4)); var k = new Variable(R(31, 1, 1, 5, 4));
        // the teacher's Q has the same concatenated vectors cut into different attention heads: the same relations
        var tq = new Variable(q.Value.Permute(0, 2, 1, 3).Reshape(1, 5, 4, 2).Permute(0, 2, 1, 3).Contiguous());
        var loss = AttentionRelationLoss.Compute(new AttentionCapture(q, k, k), new AttentionCapture(tq, k, k), null, 2);
        Assert.True(Math.Abs(loss.Value.Item()) < 1e-6, $"loss {loss.Value.Item()}");
    }

    [Fact]
    public void AWidthThatDoesNotSplitNamesTheField()
    {
        var a = new AttentionCapture(new Variable(R(40, 1, 3, 4, 5)), new Variable(R(41, 1, 1, 4, 5)), new Variable(R(42, 1, 1, 4, 5)));
        var e = Assert.Throws<ArgumentException>(() => AttentionRelationLoss.Compute(a, a, null, 4));
        Assert.Contains("RelationHeads", e.Message);
        Assert.Contains("15", e.Message);
    }
}
