using System.Diagnostics;
using System.Text.Json;
using BitDistill.Distill.Data;
using BitDistill.Distill.Objectives;
using BitDistill.Distill.Training;
using BitDistill.Models;
using BitDistill.Models.Qwen;
using BitDistill.Tensors;

namespace BitDistill.Tests.Distill;

/// <summary>The trainer for long runs: a diverging loss stops before the update and keeps the last checkpoint, a resume with
/// other settings is refused naming the setting, the best validation's model is kept, metrics go to JSONL, and a real
/// process killed with SIGKILL mid-run resumes to bitwise the same weights as an uninterrupted run.</summary>
public sealed class TrainerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bitdistill-trainer").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private static CausalLanguageModel Tiny() => ModelRegistry.Create(QwenConfig.Parse("""
        {"model_type": "qwen3", "vocab_size": 53, "hidden_size": 16, "intermediate_size": 24, "num_hidden_layers": 1,
         "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 8, "rms_norm_eps": 1e-6, "rope_theta": 10000,
         "tie_word_embeddings": true, "max_position_embeddings": 64, "hidden_act": "silu"}
        """), new Generator(3));

    private static TokenDataset Data() => new(Enumerable.Range(0, 4000).Select(i => (i * 7 + i / 13) % 53).ToArray(), "synthetic");

    private TrainingOptions Options(int steps, float lr = 1e-2f) => new()
    {
        Steps = steps, BatchSize = 2, SeqLen = 12, LearningRate = lr, WarmupSteps = 1, CheckpointDir = _dir, CheckpointEvery = 2, Name = "t",
    };

    /// <summary>The causal-LM loss, NaN from a given step on.</summary>
    private sealed class NanAfter(long step) : ITrainingObjective
    {
        private long _calls;
        public string Name => "nan-after";
        public ObjectiveResult Compute(CausalLanguageModel model, TrainingBatch batch)
        {
            var r = new CausalLmObjective().Compute(model, batch);
            return ++_calls < step ? r with { Terms = new Dictionary<string, double> { ["ce"] = r.Loss.Item() } }
                : new ObjectiveResult(r.Loss * float.NaN, new Dictionary<string, double> { ["ce"] = r.Loss.Item(), ["ld"] = double.NaN });
        }
    }

    [Fact]
    public void ANonFiniteLossStopsBeforeTheUpdateNamingStepAndTerms()
    {
        var model = Tiny();
        var e = Assert.Throws<TrainingDivergedException>(() => Trainer.Train(model, new CorpusBatches(Data(), 2, 12, 1), new NanAfter(5), Options(8)));
        Assert.Contains("step 5", e.Message);
        Assert.Contains("ld NaN", e.Message);
        Assert.Contains("ce ", e.Message);
        // the weights are those after step 4, which is also the last checkpoint
        var saved = ModelRegistry.FromPretrained(Path.Combine(_dir, TrainingCheckpoint.FolderName));
        foreach (var (name, p) in model.NamedParameters())
            Assert.Equal(saved.StateDict()[name].ToArray<float>(), p.Value.ToArray<float>());
        Assert.DoesNotContain(model.Parameters(), p => p.Value.ToArray<float>().Any(v => !float.IsFinite(v)));
    }

    [Fact]
    public void AResumeWithOtherSettingsIsRefusedNamingTheSetting()
    {
        Trainer.Train(Tiny(), new CorpusBatches(Data(), 2, 12, 1), new CausalLmObjective(), Options(2));
        var e = Assert.Throws<InvalidDataException>(() => Trainer.Train(Tiny(), new CorpusBatches(Data(), 2, 12, 1), new CausalLmObjective(), Options(4, lr: 5e-3f)));
        Assert.Contains("learning_rate", e.Message);
        e = Assert.Throws<InvalidDataException>(() => Trainer.Train(Tiny(), new CorpusBatches(Data(), 2, 12, 7), new CausalLmObjective(), Options(4)));
        Assert.Contains("data", e.Message);
        // more steps with the same settings continue the run
        var h = Trainer.Train(Tiny(), new CorpusBatches(Data(), 2, 12, 1), new CausalLmObjective(), Options(4));
        Assert.True(h.Resumed);
        Assert.Equal(4, h.Loss.Count);
    }

    [Fact]
    public void ADamagedCheckpointIsReportedNotLoadedAsSomethingElse()
    {
        Trainer.Train(Tiny(), new CorpusBatches(Data(), 2, 12, 1), new CausalLmObjective(), Options(2));
        var ckpt = Path.Combine(_dir, TrainingCheckpoint.FolderName);
        File.Delete(Path.Combine(ckpt, "model.safetensors")); // only optimizer.safetensors is left: it must not pass for the model
        var e = Assert.Throws<InvalidDataException>(() => Trainer.Train(Tiny(), new CorpusBatches(Data(), 2, 12, 1), new CausalLmObjective(), Options(4)));
        Assert.Contains("damaged", e.Message); Assert.Contains("delete", e.Message);
        File.WriteAllText(Path.Combine(ckpt, "trainer.json"), "{\"step\": -5, \"loss\": [], \"validation\": []}");
        Assert.Contains("'step' is -5", Assert.Throws<InvalidDataException>(() => Trainer.Train(Tiny(), new CorpusBatches(Data(), 2, 12, 1), new CausalLmObjective(), Options(4))).Message);
        File.WriteAllText(Path.Combine(ckpt, "trainer.json"), "{\"Step\": -5, \"Loss\": [], \"Validation\": []}"); // the format before snake_case is still read
        Assert.Contains("'step' is -5", Assert.Throws<InvalidDataException>(() => Trainer.Train(Tiny(), new CorpusBatches(Data(), 2, 12, 1), new CausalLmObjective(), Options(4))).Message);
        File.WriteAllText(Path.Combine(ckpt, "trainer.json"), "{not json");
        Assert.Contains("trainer.json", Assert.Throws<InvalidDataException>(() => Trainer.Train(Tiny(), new CorpusBatches(Data(), 2, 12, 1), new CausalLmObjective(), Options(4))).Message);
    }

    [Fact]
    public void TheBestValidationIsKeptAndMetricsAreWrittenAsJsonl()
    {
        var values = new Queue<double>([0.50, 0.75, 0.60, 0.70]);
        var h = Trainer.Train(Tiny(), new CorpusBatches(Data(), 2, 12, 1), new CausalLmObjective(), Options(8) with { EvalEvery = 2 },
            _ => new ValidationResult("accuracy", values.Dequeue(), HigherIsBetter: true));
        Assert.Equal((4L, 0.75), (h.Best!.Value.Step, h.Best.Value.Result.Value));
        var best = JsonDocument.Parse(File.ReadAllText(Path.Combine(_dir, TrainingCheckpoint.BestFolderName, "best.json"))).RootElement;
        Assert.Equal(4, best.GetProperty("step").GetInt64());
        Assert.True(File.Exists(Path.Combine(_dir, TrainingCheckpoint.BestFolderName, "model.safetensors")));
        var lines = File.ReadAllLines(Path.Combine(_dir, "metrics.jsonl"));
        Assert.Equal(1 + 8 + 4, lines.Length); // the run line, 8 steps, 4 validations
        Assert.Contains(lines, l => l.Contains("\"validation\"") && l.Contains("0.75") && l.Contains("\"best\":true"));
    }

    [Fact]
    public void AProcessKilledMidRunResumesToBitwiseTheSameWeights()
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "bitdistill.dll");
        string host = Environment.ProcessPath!.EndsWith("dotnet", StringComparison.Ordinal) ? Environment.ProcessPath : "dotnet";
        string[] Args(string output) => ["pretrain", "--output", output, "--steps", "400", "--batch", "2", "--seq-len", "16", "--hidden", "32",
            "--layers", "1", "--heads", "2", "--kv-heads", "1", "--head-dim", "16", "--intermediate", "48", "--checkpoint-every", "7", "--seed", "5"];
        Process Start(string output)
        {
            var psi = new ProcessStartInfo(host) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            psi.ArgumentList.Add(dll);
            foreach (var a in Args(output)) psi.ArgumentList.Add(a);
            return Process.Start(psi)!;
        }
        void RunToEnd(string output)
        {
            using var p = Start(output);
            string err = p.StandardError.ReadToEndAsync().Result + p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            Assert.True(p.ExitCode == 0, err);
        }
        string a = Path.Combine(_dir, "uninterrupted"), b = Path.Combine(_dir, "killed");
        RunToEnd(a);
        using (var p = Start(b))
        {
            // wait for a random early progress line, then kill (possibly inside a checkpoint write)
            string target = $"step {10 * Random.Shared.Next(2, 12)}/";
            string? line;
            while ((line = p.StandardOutput.ReadLine()) is not null && !line.Contains(target, StringComparison.Ordinal)) { }
            p.Kill(entireProcessTree: true); // SIGKILL on Unix
            p.WaitForExit();
        }
        Assert.False(File.Exists(Path.Combine(b, "model.safetensors")), "the run finished before it was killed; the test proves nothing");
        RunToEnd(b);
        Assert.Equal(File.ReadAllBytes(Path.Combine(a, "model.safetensors")), File.ReadAllBytes(Path.Combine(b, "model.safetensors")));

        // SIGTERM (as Ctrl-C): a checkpoint at the next step boundary, a clean exit (130), and the same weights on resume
        string c = Path.Combine(_dir, "terminated");
        using (var p = Start(c))
        {
            string? line;
            while ((line = p.StandardOutput.ReadLine()) is not null && !line.Contains("step 30/", StringComparison.Ordinal)) { }
            Process.Start("kill", ["-TERM", p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!.WaitForExit();
            string rest = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            Assert.True(p.ExitCode == 130, $"exit code {p.ExitCode}: {rest}");
            Assert.Contains("interrupted after step", rest);
        }
        var state = JsonDocument.Parse(File.ReadAllText(Path.Combine(c, "run", TrainingCheckpoint.FolderName, "trainer.json"))).RootElement;
        Assert.True(state.GetProperty("step").GetInt64() is >= 30 and < 400);
        RunToEnd(c);
        Assert.Equal(File.ReadAllBytes(Path.Combine(a, "model.safetensors")), File.ReadAllBytes(Path.Combine(c, "model.safetensors")));
    }
}
