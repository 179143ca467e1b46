using BitDistill.Tensors;
using static BitDistill.Tests.TestUtil;

namespace BitDistill.Tests.Tensors;

/// <summary>The destination-taking inference ops equal the allocating tensor ops on the rows they are asked for, leave the other
/// rows alone, and refuse mismatched buffers naming the parameter.</summary>
public sealed class InferenceOpsTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(5)]
    public void LinearMatchesMatMulPlusBiasOnTheFirstRows(int rows)
    {
        var x = Rand([8, 40], 1); var w = Rand([24, 40], 2); var b = Rand([24], 3);
        var y = Tensor.Full([8, 24], 7.0);
        InferenceOps.Linear(x, rows, w, b, y);
        AssertClose(y.Narrow(0, 0, rows), x.Narrow(0, 0, rows).MatMul(w.T) + b, 1e-6, "linear");
        Assert.All(y.Narrow(0, rows, 8 - rows).ToFloatArray(), v => Assert.Equal(7f, v));

        // one input row into a chosen output row (the logits of the last prompt position)
        var logits = Tensor.Zeros([3, 24]);
        InferenceOps.Linear(x, rows - 1, 1, w, null, logits, 2);
        AssertClose(logits.Narrow(0, 2, 1), x.Narrow(0, rows - 1, 1).MatMul(w.T), 1e-6, "row");
    }

    [Theory]
    [InlineData(DType.Float16, 1)]
    [InlineData(DType.Float16, 3)]
    [InlineData(DType.BFloat16, 1)]
    [InlineData(DType.Float32, 1)]
    public void LinearSharedEqualsOneLinearPerWeight(DType dtype, int rows)
    {
        var x = Rand([4, 40], 11);
        Tensor W(int n, ulong seed) => Rand([n, 40], seed).To(dtype);
        var w = new[] { W(24, 12), W(8, 13), W(8, 14) };
        var b = new[] { Rand([24], 15), null, Rand([8], 16) };
        var o = w.Select(InferenceOps.FindFp16Outliers).ToArray();
        foreach (bool third in new[] { true, false })
        {
            var expected = w.Select(m => Tensor.Full([4, m.Shape[0]], 7.0)).ToArray();
            var got = w.Select(m => Tensor.Full([4, m.Shape[0]], 7.0)).ToArray();
            for (int j = 0; j < (third ? 3 : 2); j++) InferenceOps.Linear(x, 0, rows, w[j], b[j], expected[j], 0, o[j]);
            InferenceOps.LinearShared(x, rows, w[0], b[0], got[0], o[0], w[1], b[1], got[1], o[1],
                third ? w[2] : null, third ? b[2] : null, third ? got[2] : null, third ? o[2] : null);
            for (int j = 0; j < 3; j++) Assert.Equal(expected[j].ToFloatArray(), got[j].ToFloatArray());
        }
        var wide = W(8, 17).Reshape(4, 80);
        Assert.Throws<ArgumentException>(() => InferenceOps.LinearShared(x.Reshape(2, 80), 1, w[0], null, Tensor.Zeros([4, 24]), o[0], wide, null, Tensor.Zeros([4, 4]), null, null, null, null, null));
    }

    [Fact]
    public void RmsNormPerHeadAndRopeAtAPositionMatchTheTensorOps()
    {
        var x = Rand([3, 4 * 8], 4); var w = Rand([8], 5, 0.5f, 1.5f);
        var y = Tensor.Zeros([3, 32]);
        InferenceOps.RmsNorm(x, 2, w, 1e-6f, y);
        AssertClose(y.Narrow(0, 0, 2), x.Narrow(0, 0, 2).Reshape(2, 4, 8).RmsNorm(w, 1e-6f).Reshape(2, 32), 1e-6, "rms_norm");

        var cos = Rand([10, 8], 6); var sin = Rand([10, 8], 7);
        var r = x.Contiguous().Clone();
        InferenceOps.Rope(r, 3, cos, sin, 4);
        var expected = x.Reshape(3, 4, 8).Permute(1, 0, 2).Rope(cos.Narrow(0, 4, 3), sin.Narrow(0, 4, 3)).Permute(1, 0, 2).Reshape(3, 32);
        AssertClose(r, expected, 1e-6, "rope");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void GatedGeluInPlaceSoftcapScaleAndCacheShiftMatchTheTensorOps(bool tanh)
    {
        // 3 rows of 301: more than one stack block, and the output is the gate itself (in place)
        var gate = Rand([4, 301], 8, -3f, 3f); var up = Rand([4, 301], 9);
        var expected = (tanh ? gate.GeluTanh() : gate.Gelu()).Narrow(0, 0, 3) * up.Narrow(0, 0, 3);
        var last = gate.Narrow(0, 3, 1).ToFloatArray();
        InferenceOps.GatedGelu(gate, up, 3, gate, tanh);
        AssertClose(gate.Narrow(0, 0, 3), expected, 1e-6, "gated gelu");
        Assert.Equal(last, gate.Narrow(0, 3, 1).ToFloatArray());

        // soft-capping rows 1..2 only
        var x = Rand([4, 7], 10, -20f, 20f);
        var capped = x.Clone();
        InferenceOps.Softcap(capped, 1, 2, 5f);
        AssertClose(capped.Narrow(0, 1, 2), (x.Narrow(0, 1, 2) / 5f).Tanh() * 5f, 1e-6, "softcap");
        Assert.Equal(x.Narrow(0, 0, 1).ToFloatArray(), capped.Narrow(0, 0, 1).ToFloatArray());
        Assert.Equal(x.Narrow(0, 3, 1).ToFloatArray(), capped.Narrow(0, 3, 1).ToFloatArray());

        var scaled = x.Clone();
        InferenceOps.Scale(scaled, 2, 3f);
        AssertClose(scaled.Narrow(0, 0, 2), x.Narrow(0, 0, 2) * 3f, 0, "scale");
        Assert.Equal(x.Narrow(0, 2, 2).ToFloatArray(), scaled.Narrow(0, 2, 2).ToFloatArray());

        // slots 3..7 of every kv head move to 0..4 (overlapping ranges)
        var keys = Rand([2, 9, 4], 11); var values = Rand([2, 9, 4], 12);
        var k0 = keys.Clone(); var v0 = values.Clone();
        InferenceOps.ShiftCache(keys, values, 3, 5);
        AssertClose(keys.Narrow(1, 0, 5), k0.Narrow(1, 3, 5), 0, "keys");
        AssertClose(values.Narrow(1, 0, 5), v0.Narrow(1, 3, 5), 0, "values");
        Assert.Throws<ArgumentOutOfRangeException>(() => InferenceOps.ShiftCache(keys, values, 5, 5));
    }

    [Fact]
    public void MismatchedBuffersAreRefusedNamingTheParameter()
    {
        var x = Tensor.Zeros([2, 40]); var w = Tensor.Zeros([24, 40]);
        Assert.Contains("output [2, 23] must have rows of 24", Assert.Throws<ArgumentException>(() => InferenceOps.Linear(x, 2, w, null, Tensor.Zeros([2, 23]))).Message);
        Assert.Contains("input [2, 40] has fewer than 3 rows", Assert.Throws<ArgumentException>(() => InferenceOps.Linear(x, 3, w, null, Tensor.Zeros([3, 24]))).Message);
        Assert.Contains("bias has 5 elements", Assert.Throws<ArgumentException>(() => InferenceOps.Linear(x, 2, w, Tensor.Zeros([5]), Tensor.Zeros([2, 24]))).Message);
        Assert.Contains("input [2, 40] must be contiguous", Assert.Throws<ArgumentException>(() => InferenceOps.Linear(Tensor.Zeros([40, 2]).T, 2, w, null, Tensor.Zeros([2, 24]))).Message);
        Assert.Contains("token id 9", Assert.Throws<ArgumentOutOfRangeException>(() => InferenceOps.Embedding(Tensor.Zeros([9, 4]), [1, 9], Tensor.Zeros([2, 4]))).Message);
        Assert.Contains("do not fit the KV cache of capacity 4", Assert.Throws<InvalidOperationException>(() =>
            InferenceOps.WriteKeyValue(Tensor.Zeros([2, 8]), Tensor.Zeros([2, 8]), 2, Tensor.Zeros([2, 4, 4]), Tensor.Zeros([2, 4, 4]), 3)).Message);
    }
}
