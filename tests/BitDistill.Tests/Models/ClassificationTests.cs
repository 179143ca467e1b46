using System.Text.Json.Nodes;
using BitDistill.Autograd;
using BitDistill.Models;
using BitDistill.Models.Classification;
using BitDistill.Models.Qwen;
using BitDistill.Tensors;
using BitDistill.Tensors.SafeTensors;
using Xunit.Abstractions;
using static BitDistill.Tests.TestUtil;

namespace BitDistill.Tests.Models;

/// <summary>Both classification forms: label words (next-token logits of the label tokens) and a Hugging Face-style score head on
/// the last non-padding token: shapes, pooling under left and right padding against unpadded rows, training to 100% on a toy
/// task, and the head's save/load round trip.</summary>
public sealed class ClassificationTests(ITestOutputHelper output)
{
    private static readonly int[][] Rows = [[5, 17, 33, 8, 41], [9, 12, 70], [3, 60, 22, 19]];

    // ids and mask [B, T] padded on one side with pad id 0
    private static (Tensor Ids, Tensor Mask) Pad(int[][] rows, bool left)
    {
        int t = rows.Max(r => r.Length);
        var ids = new long[rows.Length * t]; var mask = new float[rows.Length * t];
        for (int r = 0; r < rows.Length; r++)
        {
            int off = left ? t - rows[r].Length : 0;
            for (int j = 0; j < rows[r].Length; j++) { ids[r * t + off + j] = rows[r][j]; mask[r * t + off + j] = 1; }
        }
        return (Tensor.FromArray(ids, [rows.Length, t]), Tensor.FromArray(mask, [rows.Length, t]));
    }

    private static Tensor Row(int[] r) => Tensor.FromArray(r.Select(x => (long)x).ToArray(), [1, r.Length]);

    [Fact]
    public void PoolingPicksTheLastRealTokenUnderLeftAndRightPadding()
    {
        Assert.Equal([4, 2, 3], LastTokenPooling.Positions(3, 5, Pad(Rows, left: false).Mask));
        Assert.Equal([4, 4, 4], LastTokenPooling.Positions(3, 5, Pad(Rows, left: true).Mask));
        Assert.Equal([4, 4, 4], LastTokenPooling.Positions(3, 5, null));
        Assert.Throws<ArgumentException>(() => LastTokenPooling.Positions(1, 2, Tensor.Zeros(1, 2)));

        var lm = QwenModel.FromPretrained(FixturePath("qwen", "qwen3-untied-bias"));
        var head = new QwenForSequenceClassification(lm, ["neg", "neu", "pos"], new Generator(3));
        var words = new LabelWordClassifier(lm, [20, 21, 22]);
        using var _ = GradMode.NoGrad();
        foreach (bool left in new[] { false, true })
        {
            var (ids, mask) = Pad(Rows, left);
            var scores = head.Scores(ids, mask).Value;
            var wordScores = words.Scores(ids, mask).Value;
            var next = words.NextTokenLogits(ids, mask).Value;
            Assert.Equal([3, 3], scores.Shape.ToArray());
            Assert.Equal([3, 3], wordScores.Shape.ToArray());
            Assert.Equal([3, lm.Config.VocabSize], next.Shape.ToArray());
            for (int r = 0; r < Rows.Length; r++)
            {
                string side = left ? "left" : "right";
                AssertClose(scores.Narrow(0, r, 1).Contiguous(), head.Scores(Row(Rows[r])).Value, 1e-5, $"score head, {side} padding, row {r}");
                var alone = lm.Forward(Row(Rows[r])).Value.Narrow(1, Rows[r].Length - 1, 1).Reshape(1, lm.Config.VocabSize).Contiguous();
                AssertClose(next.Narrow(0, r, 1).Contiguous(), alone, 1e-5, $"label words, {side} padding, row {r}");
                var a = alone.ToFloatArray();
                Assert.Equal(new[] { a[20], a[21], a[22] }, wordScores.Narrow(0, r, 1).Contiguous().ToFloatArray(), (x, y) => Math.Abs(x - y) <= 1e-5f * (1 + Math.Abs(y)));
            }
        }
    }

    // Toy separable task: the class is given by a marker token at the start (5 → 0, 6 → 1, 7 → 2), followed by 2–5 random tokens,
    // so the last position must attend back to the marker. Rows have different lengths (left padding).
    private static (Tensor Ids, Tensor Mask, int[] Labels) ToyTask(int n, int seed)
    {
        var g = new Random(seed);
        var rows = new int[n][]; var labels = new int[n];
        for (int i = 0; i < n; i++)
        {
            labels[i] = i % 3;
            rows[i] = new[] { 5 + labels[i] }.Concat(Enumerable.Range(0, g.Next(2, 6)).Select(_ => g.Next(10, 40))).ToArray();
        }
        var (ids, mask) = Pad(rows, left: true);
        return (ids, mask, labels);
    }

    private static QwenModel TinyModel() => new(QwenConfig.Parse("""
        {"model_type":"qwen3","vocab_size":48,"hidden_size":32,"intermediate_size":64,"num_hidden_layers":2,
         "num_attention_heads":4,"num_key_value_heads":2,"head_dim":8,"tie_word_embeddings":true,"max_position_embeddings":64}
        """), new Generator(11));

    [Fact]
    public void ScoreHeadTrainsToFullTrainingAccuracy()
    {
        var (ids, mask, labels) = ToyTask(12, 1);
        var model = new QwenForSequenceClassification(TinyModel(), ["a", "b", "c"], new Generator(2));
        var opt = new AdamW(model.Parameters(), lr: 1e-2f, weightDecay: 0);
        double acc = 0; int step = 0; float loss = 0;
        for (; step < 40; step++)
        {
            opt.ZeroGrad();
            var l = model.Loss(ids, mask, labels);
            loss = l.Item();
            l.Backward();
            opt.Step();
            acc = model.Predict(ids, mask).Zip(labels).Count(p => p.First == p.Second) / (double)labels.Length;
        }
        output.WriteLine($"score head: accuracy {acc:P0} after {step} steps, loss {loss:F4}");
        Assert.Equal(1.0, acc);
        Assert.True(loss < 0.1, $"loss {loss}");
    }

    [Fact]
    public void LabelWordsTrainToFullTrainingAccuracyWithTheSftLoss()
    {
        var (ids, mask, labels) = ToyTask(12, 2);
        var lm = TinyModel();
        var clf = new LabelWordClassifier(lm, [41, 42, 43]);
        var opt = new AdamW(lm.Parameters(), lr: 1e-2f, weightDecay: 0);
        double acc = 0; int step = 0; float loss = 0;
        for (; step < 40; step++)
        {
            opt.ZeroGrad();
            var l = clf.Loss(ids, mask, labels);
            loss = l.Item();
            l.Backward();
            opt.Step();
            acc = clf.Predict(ids, mask).Zip(labels).Count(p => p.First == p.Second) / (double)labels.Length;
        }
        output.WriteLine($"label words: accuracy {acc:P0} after {step} steps, full-vocab CE {loss:F4}");
        Assert.Equal(1.0, acc);
        Assert.True(loss < 0.1, $"loss {loss}");
        // the trained model now also puts the label token first over the whole vocabulary (what generation would emit)
        using var _ = GradMode.NoGrad();
        var next = clf.NextTokenLogits(ids, mask).Value;
        for (int r = 0; r < labels.Length; r++)
            Assert.Equal(clf.LabelTokenIds[labels[r]], BitDistill.Models.Generation.Sampler.ArgMax(next.Narrow(0, r, 1).Contiguous().ToFloatArray()));
        // the restricted loss is the CE over the label tokens' logits only, and ≤ the full-vocabulary one
        float restricted = clf.RestrictedLoss(ids, mask, labels).Item(), full = clf.Loss(ids, mask, labels).Item();
        Assert.True(restricted <= full + 1e-6f, $"restricted {restricted} > full {full}");
        var s = clf.Scores(ids, mask).Value.ToFloatArray();
        double manual = 0;
        for (int r = 0; r < labels.Length; r++)
        {
            var row = s.AsSpan(r * 3, 3).ToArray();
            double m = row.Max(), z = row.Sum(x => Math.Exp(x - m));
            manual += -(row[labels[r]] - m - Math.Log(z));
        }
        Assert.Equal(manual / labels.Length, restricted, 4);
    }

    // Hugging Face's Qwen3ForSequenceClassification, written from its definition in tests/fixtures/make_score_head_fixture.py:
    // score at every position, pooled at the rightmost token that is not pad_token_id, single-label cross-entropy, in float64
    [Fact]
    public void ScoreHeadMatchesHuggingFacePoolingLossAndEveryGradientInPyTorch()
    {
        var model = Assert.IsType<QwenForSequenceClassification>(ModelRegistry.FromPretrained(FixturePath("qwen", "qwen3-cls")));
        Assert.Equal(["negative", "neutral", "positive"], model.Labels);
        using var reference = SafeTensorsFile.Open(FixturePath("qwen", "qwen3-cls", "reference.safetensors"));
        var ids = reference.Load("input_ids");
        var mask = reference.Load("attention_mask");
        var labels = reference.Load("labels").ToArray<long>().Select(l => (int)l).ToArray();
        double logitsErr = RelErr(model.Scores(ids, mask).Value.ToFloatArray(), reference.Load("pooled_logits").ToFloatArray());
        var loss = model.Loss(ids, mask, labels);
        double lossErr = Math.Abs(loss.Item() - reference.Load("loss").Item()) / Math.Abs(reference.Load("loss").Item());
        loss.Backward();
        double worst = 0; int count = 0;
        foreach (var (name, p) in model.NamedParameters())
        {
            double e = RelErr(p.Grad!.ToFloatArray(), reference.Load($"grad/{name}").ToFloatArray());
            Assert.True(e <= 1e-4, $"gradient of {name}: relative error {e:E3}");
            worst = Math.Max(worst, e); count++;
        }
        Assert.Equal(reference.Names.Count(n => n.StartsWith("grad/", StringComparison.Ordinal)), count);
        output.WriteLine($"qwen3-cls: pooled logits {logitsErr:E2}, loss {lossErr:E2}, worst of {count} gradients {worst:E2}");
        Assert.True(logitsErr <= 1e-4, $"pooled logits relative error {logitsErr:E3}");
        Assert.True(lossErr <= 1e-4, $"loss relative error {lossErr:E3}");
    }

    [Fact]
    public void ScoreHeadSavesAndLoadsWithHuggingFaceNames()
    {
        var lm = QwenModel.FromPretrained(FixturePath("qwen", "qwen3-tied"));
        var model = new QwenForSequenceClassification(lm, ["negative", "positive"], new Generator(9));
        var dir = Path.Combine(Path.GetTempPath(), $"bitdistill-cls-{Guid.NewGuid():N}");
        try
        {
            model.SavePretrained(dir);
            using (var st = SafeTensorsFile.Open(Path.Combine(dir, "model.safetensors")))
            {
                Assert.Contains("score.weight", st.Names);
                Assert.Equal([2, 48], st.Entry("score.weight").TensorShape());
                Assert.DoesNotContain("lm_head.weight", st.Names);
            }
            var json = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "config.json")))!;
            Assert.Equal(2, (int)json["num_labels"]!);
            Assert.Equal("positive", (string)json["id2label"]!["1"]!);
            Assert.Equal(0, (int)json["label2id"]!["negative"]!);
            Assert.Equal("Qwen3ForSequenceClassification", (string)json["architectures"]![0]!);

            var loaded = QwenForSequenceClassification.FromPretrained(dir);
            Assert.Equal(["negative", "positive"], loaded.Labels);
            var (ids, mask) = Pad(Rows, left: false);
            using var _ = GradMode.NoGrad();
            Assert.Equal(model.Scores(ids, mask).Value.ToFloatArray(), loaded.Scores(ids, mask).Value.ToFloatArray());
            Assert.Equal(model.Score.Weight.Value.ToFloatArray(), loaded.Score.Weight.Value.ToFloatArray());
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }

        // from a causal-LM folder: a new head needs the labels; without them the missing score.weight is named
        var fresh = QwenForSequenceClassification.FromPretrained(FixturePath("qwen", "qwen3-tied"), ["x", "y", "z"], new Generator(1));
        Assert.Equal(3, fresh.NumLabels);
        var e = Assert.Throws<ModelConfigException>(() => QwenForSequenceClassification.FromPretrained(FixturePath("qwen", "qwen3-tied")));
        Assert.Contains("id2label", e.Message);
    }
}
