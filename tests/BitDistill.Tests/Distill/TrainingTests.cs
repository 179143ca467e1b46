using BitDistill.Autograd;
using BitDistill.Distill.Data;
using BitDistill.Distill.Evaluation;
using BitDistill.Distill.Training;
using BitDistill.Models.BitNet;
using BitDistill.Models.Qwen;
using BitDistill.Tensors;
using Xunit.Abstractions;

namespace BitDistill.Tests.Distill;

/// <summary>Training on real text: a small Qwen3 learns context (beats the unigram model), overfits one batch, resumes
/// bit-exactly, and a refined ternary copy also beats the unigram baseline.</summary>
public class TrainingTests(AustenFixture f, ITestOutputHelper output) : IClassFixture<AustenFixture>
{
    [Fact]
    public void SmallQwen3LearnsContextOnRealText()
    {
        double ppl = f.History.Validation[^1].Perplexity;
        output.WriteLine(f.Log);
        output.WriteLine($"validation perplexity {ppl:F2}, unigram baseline {f.Unigram:F2}, {f.History.TokensPerSecond:F0} tok/s");
        Assert.Contains("tok/s", f.Log);
        Assert.True(ppl < 0.7 * f.Unigram, $"validation perplexity {ppl:F2} is not clearly below the unigram {f.Unigram:F2}");
    }

    [Fact]
    public void RefinedTernaryModelAlsoBeatsTheUnigramBaseline()
    {
        var student = Refiner.Refine(f.Model, new BitNetConfig { SubLn = SubLnPlacement.Paper });
        double before = Perplexity.Compute(student, f.Valid, new PerplexityProtocol(64, 48));
        var h = CausalLmTrainer.Train(student, f.Train, f.Valid, AustenFixture.Options with { Steps = 200, LearningRate = 2e-3f, WarmupSteps = 20, Seed = 4 });
        double after = h.Validation[^1].Perplexity;
        output.WriteLine($"ternary: perplexity right after refine {before:F2}, after 200 steps {after:F2}; FP teacher {f.History.Validation[^1].Perplexity:F2}; unigram {f.Unigram:F2}");
        Assert.True(after < 0.8 * f.Unigram, $"ternary validation perplexity {after:F2} is not clearly below the unigram {f.Unigram:F2}");
        Assert.True(after < before, "training the ternary model improves it");
    }

    [Fact]
    public void GptqAndAwqLowerTheOutputErrorOfAFinishedTernaryModel()
    {
        var student = Refiner.Refine(f.Model, new BitNetConfig { SubLn = SubLnPlacement.Paper });
        CausalLmTrainer.Train(student, f.Train, null, AustenFixture.Options with { Steps = 40, WarmupSteps = 5, LearningRate = 2e-3f });
        var calib = new TokenDataset(f.Train.Tokens[..20000], "calibration");
        foreach (var method in new[] { CalibrationKind.Gptq, CalibrationKind.Awq })
        {
            var r = BitDistill.Distill.Quantization.PostTrainingQuantizer.Run(student, method, calib, f.Valid, maxRows: 1024, perplexity: new PerplexityProtocol(64, 32));
            double e0 = r.Layers.Average(l => l.AbsmeanError), e1 = r.Layers.Average(l => l.CalibratedError);
            output.WriteLine($"{method}: mean held-out output error {e0:F4} → {e1:F4}; perplexity {r.PerplexityBefore:F2} → {r.PerplexityAfter:F2}");
            Assert.Equal(14, r.Layers.Count);
            Assert.True(e1 < e0, $"{method} did not lower the output error ({e0:F4} → {e1:F4})");
            // the calibrated model round-trips through the Hugging Face layout with its fixed scales
            var dir = Directory.CreateTempSubdirectory("bitdistill-ptq").FullName;
            try
            {
                r.Model.SavePretrained(dir);
                var back = QwenModel.FromPretrained(dir);
                var ids = Tensor.FromArray(f.Valid.Tokens[..32].Select(t => (long)t).ToArray(), [1, 32]);
                Assert.Equal(r.Model.Forward(ids).Value.ToArray<float>(), back.Forward(ids).Value.ToArray<float>());
            }
            finally { Directory.Delete(dir, true); }
        }
    }

    [Fact]
    public void OverfitsOneBatch()
    {
        var model = new QwenModel(AustenFixture.Config(f.Tokenizer.VocabSize), new Generator(9));
        var (x, y) = f.Train.RandomBatch(2, 32, 5, 0);
        var opt = new AdamW(model.Parameters(), lr: 3e-3f, weightDecay: 0);
        float first = 0, last = 0;
        for (int s = 0; s < 80; s++)
        {
            using var scope = TensorScope.Begin();
            opt.ZeroGrad();
            var l = F.CrossEntropy(model.Forward(x).Reshape(-1, f.Tokenizer.VocabSize), y.Reshape(-1));
            if (s == 0) first = l.Item();
            last = l.Item();
            l.Backward();
            opt.Step();
        }
        output.WriteLine($"loss {first:F3} → {last:F3}");
        Assert.True(last < 0.1, $"final loss {last}");
    }

    [Fact]
    public void InterruptedRunResumesToTheSameWeights()
    {
        var dir = Directory.CreateTempSubdirectory("bitdistill-train").FullName;
        try
        {
            var o = AustenFixture.Options with { Steps = 12, CheckpointEvery = 5, SeqLen = 32, EvalEvery = 0 };
            var a = new QwenModel(AustenFixture.Config(f.Tokenizer.VocabSize), new Generator(2));
            CausalLmTrainer.Train(a, f.Train, null, o);
            var b = new QwenModel(AustenFixture.Config(f.Tokenizer.VocabSize), new Generator(2));
            CausalLmTrainer.Train(b, f.Train, null, o with { Steps = 12, CheckpointDir = dir, OnStep = s => { if (s == 7) throw new OperationCanceledException("simulated interruption"); } });
        }
        catch (OperationCanceledException) { }
        try
        {
            var o = AustenFixture.Options with { Steps = 12, CheckpointEvery = 5, SeqLen = 32, EvalEvery = 0 };
            var c = new QwenModel(AustenFixture.Config(f.Tokenizer.VocabSize), new Generator(77)); // different init: the checkpoint must overwrite it
            var h = CausalLmTrainer.Train(c, f.Train, null, o with { CheckpointDir = dir });
            Assert.True(h.Resumed);
            Assert.Equal(12, h.Loss.Count);
            var a = new QwenModel(AustenFixture.Config(f.Tokenizer.VocabSize), new Generator(2));
            CausalLmTrainer.Train(a, f.Train, null, o);
            foreach (var ((n, p), (_, q)) in a.NamedParameters().Zip(c.NamedParameters()))
                Assert.True(p.Value.ToArray<float>().SequenceEqual(q.Value.ToArray<float>()), $"{n} differs after resume");
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void BadDataIsReported()
    {
        var ex = Assert.Throws<InvalidDataException>(() => TokenDataset.FromDocuments([], f.Tokenizer, 0, "empty.txt"));
        Assert.Contains("empty.txt", ex.Message);
        var tmp = Path.GetTempFileName() + ".jsonl";
        File.WriteAllText(tmp, "{\"text\": \"ok\"}\n{bad json\n");
        var ex2 = Assert.Throws<InvalidDataException>(() => TextCorpus.ReadDocuments(tmp).ToList());
        Assert.Contains(":2:", ex2.Message);
        File.Delete(tmp);
        Assert.Throws<FileNotFoundException>(() => TextCorpus.ReadDocuments("/nonexistent/corpus.txt").ToList());
    }
}
