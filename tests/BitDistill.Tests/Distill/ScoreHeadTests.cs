using System.Text.Json.Nodes;
using BitDistill.Autograd;
using BitDistill.Distill.Data;
using BitDistill.Distill.Objectives;
using BitDistill.Distill.Recipes;
using BitDistill.Distill.Training;
using BitDistill.Models;
using BitDistill.Models.BitNet;
using BitDistill.Models.Classification;
using BitDistill.Models.Layers;
using BitDistill.Models.Qwen;
using BitDistill.Models.Tokenization;
using BitDistill.Tensors;

namespace BitDistill.Tests.Distill;

/// <summary>The score head (<c>--head score</c>) through the recipe: the encoding puts the class at the last prompt token, the
/// task objective is the cross-entropy of the pooled score-head logits, stage 3's LD is τ²·KL of the teacher's and the
/// student's score-head logits (checked against a double-precision computation and finite differences), a recipe run saves a
/// Hugging Face *ForSequenceClassification folder that reloads through the registry with the same predictions, and a
/// distilled student's head starts from the teacher's.</summary>
public sealed class ScoreHeadTests
{
    private static readonly string[] Labels = ["negative", "positive"];
    private static readonly TextTokenizer Tok = TextTokenizer.Load(Path.Combine(AppContext.BaseDirectory, "data", "tokenizer"));

    private static QwenModel Lm(ulong seed) => (QwenModel)ModelRegistry.Create(QwenConfig.Parse("""
        {"model_type": "qwen3", "vocab_size": 2048, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
         "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 16, "rms_norm_eps": 1e-6, "rope_theta": 10000,
         "tie_word_embeddings": true, "max_position_embeddings": 256, "hidden_act": "silu"}
        """), new Generator(seed));

    private static QwenForSequenceClassification Classifier(ulong seed) => (QwenForSequenceClassification)ModelRegistry.WithScoreHead(Lm(seed), Labels, new Generator(seed + 100));

    private static TaskEncoder Encoder() => new(Tok, TaskKind.Classification, 48, LabelWords.Default(Labels), null, ClassificationHead.Score);

    private static readonly string[] Texts =
    [
        "A wonderful, moving film.", "Terrible acting and a dull plot.", "I loved every minute of it.", "Not worth the ticket.",
        "The best thing I have seen this year, truly.", "Boring.", "Great cast, great story.", "It fell apart in the second half and never recovered.",
    ];

    private static EncodedTask Rows(TaskEncoder enc) =>
        enc.EncodeAll(Texts.Select((t, i) => new TaskExample(t, null, Labels[(i + 1) % 2], $"row {i + 1}")).ToArray());

    [Fact]
    public void ScoreHeadEncodingPutsTheClassAtTheLastPromptToken()
    {
        var enc = Encoder();
        var rows = Rows(enc);
        Assert.Empty(enc.LabelTokenIds);
        Assert.All(rows.Rows, r => Assert.Equal(new[] { r.Label }, r.Answer));
        var b = TaskBatches.Training(rows.Rows, enc.PadId);
        var ids = b.InputIds.ToArray<long>(); var targets = b.Targets.ToArray<long>();
        int t = b.InputIds.Shape[1];
        for (int r = 0; r < rows.Rows.Count; r++)
        {
            var p = rows.Rows[r].Prompt;
            Assert.Equal(p.Select(x => (long)x), ids.Skip(r * t).Take(p.Length));  // the prompt is the whole input
            for (int i = 0; i < t; i++) Assert.Equal(i == p.Length - 1 ? rows.Rows[r].Label : TaskBatches.IgnoreIndex, targets[r * t + i]);
        }
        Assert.Throws<ArgumentException>(() => new TaskEncoder(Tok, TaskKind.Summarization, 48, null, null, ClassificationHead.Score));
    }

    // softmax(z/τ) rows in double
    private static double[][] Soft(float[] z, int rows, int c, double tau) => Enumerable.Range(0, rows).Select(r =>
    {
        var s = z.AsSpan(r * c, c).ToArray().Select(x => x / tau).ToArray();
        double m = s.Max(), sum = s.Sum(x => Math.Exp(x - m));
        return s.Select(x => Math.Exp(x - m) / sum).ToArray();
    }).ToArray();

    [Fact]
    public void ScoreHeadObjectivesAreCrossEntropyAndTemperedKlOfThePooledScoreLogits()
    {
        var enc = Encoder();
        var rows = Rows(enc);
        var teacher = Classifier(1);
        var student = Classifier(2);
        var train = TaskBatches.Training(rows.Rows, enc.PadId);   // right-padded, as training runs
        var prompts = TaskBatches.Prompts(rows.Rows, enc.PadId);  // left-padded, as evaluation runs
        int n = rows.Rows.Count;
        float[] zs, zt;
        using (GradMode.NoGrad())
        {
            zs = student.Scores(prompts.InputIds, prompts.AttentionMask).Value.ToFloatArray();
            zt = teacher.Scores(prompts.InputIds, prompts.AttentionMask).Value.ToFloatArray();
        }
        double ce = Enumerable.Range(0, n).Average(r => -Math.Log(Soft(zs, n, 2, 1)[r][prompts.Labels[r]]));
        Assert.Equal(ce, new CausalLmObjective().Compute(student, train).Loss.Item(), 4);

        const double Tau = 2;
        var pt = Soft(zt, n, 2, Tau); var ps = Soft(zs, n, 2, Tau);
        double kl = Tau * Tau * Enumerable.Range(0, n).Average(r => Enumerable.Range(0, 2).Sum(c => pt[r][c] * (Math.Log(pt[r][c]) - Math.Log(ps[r][c]))));
        var objective = new DistillationObjective(teacher, new DistillationOptions { LogitsWeight = 3, Temperature = Tau, AttentionWeight = 0 });
        var result = objective.Compute(student, train);
        Assert.Equal(ce, result.Terms["ce"], 4);
        Assert.Equal(kl, result.Terms["ld"], 4);
        Assert.Equal(ce + 3 * kl, result.Loss.Item(), 4);
    }

    [Fact]
    public void ScoreHeadDistillationGradientsMatchFiniteDifferences()
    {
        var enc = Encoder();
        var train = TaskBatches.Training(Rows(enc).Rows.Take(4).ToArray(), enc.PadId);
        var teacher = Classifier(1);
        var student = Classifier(2);
        var objective = new DistillationObjective(teacher, new DistillationOptions { LogitsWeight = 3, Temperature = 2, AttentionWeight = 10, RelationHeads = 2, StudentLayer = 1, TeacherLayer = 1 });
        student.ZeroGrad();
        objective.Compute(student, train).Loss.Backward();
        // the score head, and the final norm the pooled hidden state passes through
        foreach (var (name, param) in new[] { ("score.weight", student.Score.Weight), ("model.norm.weight", student.NamedParameters().First(p => p.Name == "model.norm.weight").Param) })
        {
            var analytic = param.Grad!.ToFloatArray();
            var x = param.Value.ToFloatArray();
            const float H = 1e-2f;
            double Loss(int i, float d)
            {
                var y = (float[])x.Clone(); y[i] += d;
                student.LoadStateDict(new Dictionary<string, Tensor> { [name] = Tensor.FromArray(y, param.Value.ShapeArray) }, strict: false);
                using var _ = GradMode.NoGrad();
                return objective.Compute(student, train).Loss.Item();
            }
            double worst = 0, scale = 1e-3;
            for (int i = 0; i < x.Length; i += Math.Max(1, x.Length / 16))
            {
                double numeric = (Loss(i, H) - Loss(i, -H)) / (2 * H);
                worst = Math.Max(worst, Math.Abs(numeric - analytic[i]));
                scale = Math.Max(scale, Math.Abs(numeric));
            }
            student.LoadStateDict(new Dictionary<string, Tensor> { [name] = Tensor.FromArray(x, param.Value.ShapeArray) }, strict: false);
            Assert.True(worst / scale < 2e-2, $"{name}: max |analytic − numeric| {worst:G3} against |numeric| {scale:G3}");
        }
    }

    private static RecipeRunOptions Options(TextWriter? log = null) => new()
    {
        Task = new TrainingOptions { Steps = 3, BatchSize = 4, WarmupSteps = 1, EvalEvery = 0, LearningRate = 3e-3f, Seed = 5 },
        Log = log, Distillation = new DistillationOptions { LogitsWeight = 10, Temperature = 5, AttentionWeight = 10, RelationHeads = 2 },
    };

    [Theory]
    [InlineData("fp-sft")]
    [InlineData("bitnet-sft")]
    public void AScoreHeadRunSavesAHuggingFaceClassifierThatReloadsWithTheSamePredictions(string method)
    {
        var enc = Encoder();
        var rows = Rows(enc);
        var result = RecipeRunner.Run(KnownRecipes.ByName(method), Lm(3), null, rows, rows.Rows.Take(4).ToArray(), enc, Options());
        var model = Assert.IsType<QwenForSequenceClassification>(result.Model);
        Assert.Equal(typeof(Linear), model.Score.GetType());  // the head stays full precision, as lm_head does
        Assert.Equal(method == "bitnet-sft", model.NamedModules().Any(m => m.Module is BitLinear));
        var dir = Directory.CreateTempSubdirectory("bitdistill-score").FullName;
        try
        {
            model.SavePretrained(dir);
            var config = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "config.json")))!;
            Assert.Equal("Qwen3ForSequenceClassification", (string)config["architectures"]![0]!);
            Assert.Equal(2, (int)config["num_labels"]!);
            Assert.Equal("positive", (string)config["id2label"]!["1"]!);
            Assert.Equal(1, (int)config["label2id"]!["positive"]!);
            Assert.Equal(method == "bitnet-sft", config["bitnet"] is not null);
            Assert.Equal(enc.PadId, (int)config["pad_token_id"]!);  // Hugging Face pools at the last token that is not padding
            var loaded = Assert.IsType<QwenForSequenceClassification>(ModelRegistry.FromPretrained(dir));
            Assert.Equal(Labels, loaded.Labels);
            model.Eval(); loaded.Eval();
            using var _ = GradMode.NoGrad();
            foreach (var b in rows.PromptBatches(4))
            {
                Assert.Equal(model.Scores(b.InputIds, b.AttentionMask).Value.ToFloatArray(), loaded.Scores(b.InputIds, b.AttentionMask).Value.ToFloatArray());
                Assert.Equal(model.Predict(b.InputIds, b.AttentionMask), loaded.Predict(b.InputIds, b.AttentionMask));
            }
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void ADistilledScoreHeadStudentStartsFromTheTeachersHeadAndNeedsAScoreHeadTeacher()
    {
        var enc = Encoder();
        var rows = Rows(enc);
        var teacher = Classifier(1);
        var log = new StringWriter();
        var result = RecipeRunner.Run(KnownRecipes.NoStage2, Lm(1), teacher, rows, [], enc, Options(log));
        Assert.Contains("score head: initialised from the teacher's", log.ToString());
        var student = Assert.IsType<QwenForSequenceClassification>(result.Model);
        Assert.Contains(student.NamedModules(), m => m.Module is BitLinear);

        var e = Assert.Throws<ArgumentException>(() => RecipeRunner.Run(KnownRecipes.NoStage2, Lm(1), Lm(2), rows, [], enc, Options()));
        Assert.Contains("teacher must have one", e.Message);
        // stage 2 trains a causal LM: a base that is already a classifier cannot continue pre-training
        e = Assert.Throws<ArgumentException>(() => RecipeRunner.Run(KnownRecipes.BitDistill, teacher, teacher, rows, [], enc, Options() with { Corpus = new TokenDataset([1, 2, 3, 4], "test") }));
        Assert.Contains("stage 2", e.Message);
    }
}
