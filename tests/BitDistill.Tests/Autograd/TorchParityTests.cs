using System.Text.Json;
using BitDistill.Autograd;
using BitDistill.Tensors;
using BitDistill.Tensors.SafeTensors;

namespace BitDistill.Tests.Autograd;

/// <summary>Outputs and gradients of every op against PyTorch (float64 reference from the same float32 inputs), from the
/// committed fixture written by tests/fixtures/make_op_fixtures.py. Bound: whole-tensor relative error ≤ 1e-4.</summary>
public class TorchParityTests
{
    private static readonly Lazy<SafeTensorsFile> File = new(() => SafeTensorsFile.Open(TestUtil.FixturePath("parity", "ops.safetensors")));

    public static IEnumerable<object[]> CaseNames() =>
        JsonSerializer.Deserialize<string[]>(File.Value.Metadata["cases"])!.Select(c => new object[] { c });

    private static Func<Variable[], Tensor[], Variable> Forward(string c, JsonElement meta) => c switch
    {
        "add" => (v, _) => v[0] + v[1],
        "sub" => (v, _) => v[0] - v[1],
        "mul" => (v, _) => v[0] * v[1],
        "div" => (v, _) => v[0] / v[1],
        "pow_scalar" => (v, _) => v[0].Pow((float)meta.GetProperty("exponent").GetDouble()),
        "pow" => (v, _) => v[0].Pow(v[1]),
        "maximum" => (v, _) => v[0].Maximum(v[1]),
        "minimum" => (v, _) => v[0].Minimum(v[1]),
        "neg" => (v, _) => -v[0],
        "abs" => (v, _) => v[0].Abs(),
        "exp" => (v, _) => v[0].Exp(),
        "log" => (v, _) => v[0].Log(),
        "sqrt" => (v, _) => v[0].Sqrt(),
        "rsqrt" => (v, _) => v[0].Rsqrt(),
        "tanh" => (v, _) => v[0].Tanh(),
        "sigmoid" => (v, _) => v[0].Sigmoid(),
        "silu" => (v, _) => v[0].Silu(),
        "gelu_tanh" => (v, _) => v[0].GeluTanh(),
        "gelu_erf" => (v, _) => v[0].Gelu(),
        "relu" => (v, _) => v[0].Relu(),
        "relu2" => (v, _) => v[0].ReluSquared(),
        "square" => (v, _) => v[0].Square(),
        "matmul" or "bmm" or "matmul_bcast" => (v, _) => v[0].MatMul(v[1]),
        "matmul_bt" => (v, _) => v[0].MatMul(v[1].T),
        "matmul_at" => (v, _) => v[0].T.MatMul(v[1]),
        "reshape" => (v, _) => v[0].Reshape(Ints(meta, "shape")),
        "permute" => (v, _) => v[0].Permute(Ints(meta, "dims")),
        "slice" => (v, _) => v[0].Slice(meta.GetProperty("axis").GetInt32(), meta.GetProperty("start").GetInt32(), meta.GetProperty("stop").GetInt32(), meta.GetProperty("step").GetInt32()),
        "concat" => (v, _) => F.Concat([v[0], v[1]], meta.GetProperty("axis").GetInt32()),
        "expand" => (v, _) => v[0].Expand(Ints(meta, "shape")),
        "index_select" => (v, t) => v[0].IndexSelect(meta.GetProperty("axis").GetInt32(), t[1]),
        "sum_axes" => (v, _) => v[0].Sum(Ints(meta, "axes"), meta.GetProperty("keepdim").GetBoolean()),
        "mean_keepdim" => (v, _) => v[0].Mean(Ints(meta, "axes"), meta.GetProperty("keepdim").GetBoolean()),
        "max_axis" => (v, _) => v[0].Max(Ints(meta, "axes"), meta.GetProperty("keepdim").GetBoolean()),
        "sum_all" => (v, _) => v[0].Sum(),
        "softmax" => (v, _) => v[0].Softmax(meta.GetProperty("axis").GetInt32()),
        "log_softmax" => (v, _) => v[0].LogSoftmax(meta.GetProperty("axis").GetInt32()),
        "embedding" => (v, t) => F.Embedding(v[0], t[1]),
        "rms_norm" => (v, _) => F.RmsNorm(v[0], v[1], (float)meta.GetProperty("eps").GetDouble()),
        "rms_norm_noweight" => (v, _) => F.RmsNorm(v[0], null, (float)meta.GetProperty("eps").GetDouble()),
        "rope" => (v, t) => F.Rope(v[0], t[1], t[2]),
        "sdpa_causal_gqa" => (v, _) => F.Attention(v[0], v[1], v[2], causal: true, scale: (float)meta.GetProperty("scale").GetDouble()),
        "sdpa_causal_gqa_pad" => (v, t) => F.Attention(v[0], v[1], v[2], causal: true, keyPaddingMask: t[3], scale: (float)meta.GetProperty("scale").GetDouble()),
        "cross_entropy" => (v, t) => F.CrossEntropy(v[0], t[1], meta.GetProperty("ignore_index").GetInt64()),
        "kl_div_temp" => (v, _) => F.KlDivWithTemperature(v[1], v[0], (float)meta.GetProperty("tau").GetDouble()),
        "l2_normalize" => (v, _) => F.L2Normalize(v[0], meta.GetProperty("axis").GetInt32(), (float)meta.GetProperty("eps").GetDouble()),
        "masked_fill" => (v, t) => v[0].MaskedFill(t[1].Compare(BitDistill.Kernels.CompareOp.Ne, 0), (float)meta.GetProperty("value").GetDouble()),
        "where" => (v, t) => F.Where(t[0].Compare(BitDistill.Kernels.CompareOp.Ne, 0), v[1], v[2]),
        _ => throw new KeyNotFoundException($"no forward for fixture case {c}"),
    };

    private static int[] Ints(JsonElement m, string key) => m.GetProperty(key).EnumerateArray().Select(e => e.GetInt32()).ToArray();

    [Theory, MemberData(nameof(CaseNames))]
    public void MatchesPyTorch(string c)
    {
        var f = File.Value;
        using var doc = JsonDocument.Parse(f.Metadata[c]);
        var meta = doc.RootElement;
        var inputs = meta.GetProperty("inputs").EnumerateArray().Select(e => e.GetString()!).ToArray();
        var grads = meta.GetProperty("grads").EnumerateArray().Select(e => e.GetString()!).ToHashSet();
        var tensors = inputs.Select(n => f.Load($"{c}/in/{n}")).ToArray();
        var vars = inputs.Select((n, i) => new Variable(tensors[i], requiresGrad: grads.Contains(n))).ToArray();
        var y = Forward(c, meta)(vars, tensors);
        var expected = f.Load($"{c}/out");
        TestUtil.AssertClose(y.Value.Reshape(expected.ShapeArray), expected, 1e-4, $"{c} output");
        y.Backward(f.Load($"{c}/gout").Reshape(y.Value.ShapeArray));
        for (int i = 0; i < inputs.Length; i++)
        {
            if (!grads.Contains(inputs[i])) continue;
            Assert.NotNull(vars[i].Grad);
            TestUtil.AssertClose(vars[i].Grad!, f.Load($"{c}/grad/{inputs[i]}"), 1e-4, $"{c} grad {inputs[i]}");
        }
    }
}
