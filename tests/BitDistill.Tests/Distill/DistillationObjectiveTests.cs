using BitDistill.Autograd;
using BitDistill.Distill.Objectives;
using BitDistill.Distill.Recipes;
using BitDistill.Models;
using BitDistill.Models.BitNet;
using BitDistill.Models.Qwen;
using BitDistill.Tensors;

namespace BitDistill.Tests.Distill;

/// <summary>Stage 3's objective on two tiny random models of different shapes (an FP teacher and a refined ternary student
/// with other head counts, head_dim, hidden size and depth): the loss equals CE + λ·LD + γ·AD computed separately from
/// materialised logits and a plain relation-loss reference, and a few optimizer steps lower LD and AD.</summary>
public class DistillationObjectiveTests
{
    private static QwenConfig Config(int hidden, int heads, int kvHeads, int headDim, int layers) => QwenConfig.Parse($$"""
        {"model_type": "qwen3", "vocab_size": 61, "hidden_size": {{hidden}}, "intermediate_size": 48, "num_hidden_layers": {{layers}},
         "num_attention_heads": {{heads}}, "num_key_value_heads": {{kvHeads}}, "head_dim": {{headDim}}, "rms_norm_eps": 1e-6, "rope_theta": 10000,
         "tie_word_embeddings": true, "max_position_embeddings": 128, "hidden_act": "silu"}
        """);

    private static (CausalLanguageModel teacher, CausalLanguageModel student) Models()
    {
        var teacher = ModelRegistry.Create(Config(32, 4, 2, 12, 3), new Generator(7));
        var student = Refiner.Refine(ModelRegistry.Create(Config(24, 2, 1, 16, 2), new Generator(8)), new BitNetConfig());
        return (teacher, student);
    }

    // two sequences of 7 tokens, the second with 2 padding tokens; targets on the "answer" tokens only
    private static TrainingBatch Batch()
    {
        var ids = Tensor.FromArray(new long[] { 3, 17, 5, 42, 9, 11, 60, 8, 1, 33, 27, 14, 0, 0 }, [2, 7]);
        var mask = Tensor.FromArray(new float[] { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0 }, [2, 7]);
        const long X = CausalLmObjective.IgnoreIndex;
        var targets = Tensor.FromArray(new long[] { X, X, X, 7, 19, 2, X, X, X, 50, 4, X, X, X }, [2, 7]);
        return new TrainingBatch(ids, targets, mask);
    }

    // MiniLM's relation loss written directly: split heads, scores, −1e4 on padded keys, row KLs of valid tokens / (R·valid)
    private static double ReferenceRelationLoss(AttentionCapture s, AttentionCapture t, float[] mask, int r, RelationKind kind)
    {
        double total = 0;
        int b = s.Query.Size(0), n = s.Query.Size(2);
        var additive = Tensor.FromArray(mask.Select(m => (1 - m) * -1e4f).ToArray(), [b, 1, 1, n]);
        var rows = Tensor.FromArray(mask, [b, 1, n]);
        Tensor LogRelations(Tensor x)
        {
            int h = x.Size(1), d = x.Size(3);
            var a = x.Permute(0, 2, 1, 3).Contiguous().Reshape(b, n, r, h * d / r).Permute(0, 2, 1, 3).Contiguous();
            if (kind == RelationKind.L2Normalized) a = a / a.Square().Sum(-1, keepDim: true).Sqrt();
            var scores = a.MatMul(a.T) * (kind == RelationKind.L2Normalized ? 1f : 1f / MathF.Sqrt(h * d / r));
            return (scores + additive).LogSoftmax(-1);
        }
        foreach (var (xs, xt) in new[] { (s.Query, t.Query), (s.Key, t.Key), (s.Value, t.Value) })
        {
            var ls = LogRelations(xs.Value); var lt = LogRelations(xt.Value);
            var rowKl = (lt.Exp() * (lt - ls)).Sum(-1) * rows;
            total += rowKl.Sum().Item() / (r * mask.Sum());
        }
        return total;
    }

    // τ²·KL(softmax(z_T/τ) ‖ softmax(z_S/τ)) of the kept rows, in double
    private static double ReferenceLogitsLoss(float[] zs, float[] zt, float[] rows, int v, double tau)
    {
        double sum = 0; int kept = 0;
        for (int i = 0; i < rows.Length; i++)
        {
            if (rows[i] == 0) continue;
            kept++;
            var s = zs.AsSpan(i * v, v).ToArray().Select(x => x / tau).ToArray();
            var t = zt.AsSpan(i * v, v).ToArray().Select(x => x / tau).ToArray();
            double ms = s.Max(), mt = t.Max();
            double lseS = ms + Math.Log(s.Sum(x => Math.Exp(x - ms))), lseT = mt + Math.Log(t.Sum(x => Math.Exp(x - mt)));
            for (int j = 0; j < v; j++) sum += Math.Exp(t[j] - lseT) * (t[j] - lseT - (s[j] - lseS));
        }
        return sum / kept * tau * tau;
    }

    [Theory]
    [InlineData(RelationKind.ScaledDotProduct, false)]
    [InlineData(RelationKind.L2Normalized, true)]
    public void LossIsCePlusWeightedLdAndAdComputedSeparately(RelationKind kind, bool allTokens)
    {
        var (teacher, student) = Models();
        var batch = Batch();
        var options = new DistillationOptions { LogitsWeight = 10, AttentionWeight = 1e3, Temperature = 5, RelationHeads = 8, Relation = kind, LogitsOverAllTokens = allTokens };
        var objective = new DistillationObjective(teacher, options);
        Assert.Equal(2, objective.TeacherLayer);
        Assert.Equal(1, objective.StudentLayer(student));
        var result = objective.Compute(student, batch);

        var sc = new ForwardCapture(false, 1); var tc = new ForwardCapture(false, 2);
        var zs = student.Forward(batch.InputIds, batch.AttentionMask, sc).Value.Reshape(-1, 61);
        var zt = teacher.Forward(batch.InputIds, batch.AttentionMask, tc).Value.Reshape(-1, 61);
        double ce = F.CrossEntropy(new Variable(zs), batch.Targets.Reshape(-1)).Value.Item();
        var maskValues = batch.AttentionMask!.ToArray<float>();
        var targets = batch.Targets.ToArray<long>();
        var rows = Tensor.FromArray(Enumerable.Range(0, 14).Select(i => allTokens ? maskValues[i] : targets[i] == CausalLmObjective.IgnoreIndex ? 0f : 1f).ToArray(), [14]);
        double ld = ReferenceLogitsLoss(zs.ToArray<float>(), zt.ToArray<float>(), rows.ToArray<float>(), 61, 5);
        double ad = ReferenceRelationLoss(sc.Qkv[1], tc.Qkv[2], maskValues, 8, kind);

        Assert.True(ld > 0 && ad > 0);
        Assert.Equal(ce, result.Terms["ce"], 1e-4 * ce);
        Assert.Equal(ld, result.Terms["ld"], 1e-4 * ld);
        Assert.Equal(ad, result.Terms["ad"], 1e-4 * ad);
        double total = ce + 10 * ld + 1e3 * ad;
        Assert.Equal(total, result.Loss.Value.Item(), 1e-4 * total);
    }

    [Fact]
    public void OptimizerStepsLowerTheDistillationTerms()
    {
        var (teacher, student) = Models();
        var batch = Batch();
        var objective = new DistillationObjective(teacher, new DistillationOptions { LogitsWeight = 1000, AttentionWeight = 10, RelationHeads = 8 });
        // weights that make LD and AD outweigh the CE on targets a random teacher does not share
        var teacherBefore = teacher.Parameters().Select(p => p.Value.ToArray<float>()).ToArray();
        var opt = new AdamW(student.Parameters(), lr: 5e-3f, weightDecay: 0);
        IReadOnlyDictionary<string, double>? first = null, last = null;
        for (int step = 0; step < 12; step++)
        {
            opt.ZeroGrad();
            var r = objective.Compute(student, batch);
            r.Loss.Backward();
            opt.Step();
            first ??= r.Terms; last = r.Terms;
        }
        Assert.True(last!["ld"] < 0.8 * first!["ld"], $"LD {first["ld"]} → {last["ld"]}");
        Assert.True(last["ad"] < 0.8 * first["ad"], $"AD {first["ad"]} → {last["ad"]}");
        // the teacher is never trained
        Assert.All(teacher.Parameters().Zip(teacherBefore), p => Assert.Equal(p.Second, p.First.Value.ToArray<float>()));
        Assert.All(teacher.Parameters(), p => Assert.Null(p.Grad));
    }

    [Fact]
    public void TermsOfDisabledWeightsAreNotComputed()
    {
        var (teacher, student) = Models();
        var r = new DistillationObjective(teacher, new DistillationOptions { LogitsWeight = 0, AttentionWeight = 0 }).Compute(student, Batch());
        Assert.Equal(["ce"], r.Terms.Keys);
        Assert.Equal(r.Terms["ce"], r.Loss.Value.Item(), 6);
    }

    [Fact]
    public void BadSettingsNameTheField()
    {
        var (teacher, _) = Models();
        Assert.Contains("TeacherLayer", Assert.Throws<ArgumentException>(() => new DistillationObjective(teacher, new DistillationOptions { TeacherLayer = 3 })).Message);
        Assert.Contains("Temperature", Assert.Throws<ArgumentException>(() => new DistillationObjective(teacher, new DistillationOptions { Temperature = 0 })).Message);
        Assert.Equal(22, DistillationOptions.DefaultLayer(28));
    }

    [Fact]
    public void OptionsTakeTheRecipesWeights()
    {
        var o = DistillationOptions.From(KnownRecipes.AttentionOnly with { AttentionLayer = 1 });
        Assert.Equal(0, o.LogitsWeight);
        Assert.Equal(KnownRecipes.BitDistill.AttentionDistillationWeight, o.AttentionWeight);
        Assert.Equal(KnownRecipes.BitDistill.Temperature, o.Temperature);
        Assert.Equal(1, o.StudentLayer); Assert.Equal(1, o.TeacherLayer);
        var (teacher, student) = Models();
        var r = new DistillationObjective(teacher, o with { RelationHeads = 8 }).Compute(student, Batch());
        Assert.Equal(["ce", "ad"], r.Terms.Keys);
    }
}
