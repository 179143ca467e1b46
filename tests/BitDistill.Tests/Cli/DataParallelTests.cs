using System.Diagnostics;
using System.Text.Json;
using BitDistill.Distill.Data;
using BitDistill.Models;
using BitDistill.Models.Qwen;
using BitDistill.Tensors;
using BitDistill.Tensors.SafeTensors;

namespace BitDistill.Tests.Cli;

/// <summary>Data-parallel training under mpirun through the real command line: 2 ranks × micro-batch b train bitwise the same
/// model, with the same losses, as 1 process accumulating 2 micro-batches of b (pretrain, and distill's stages 2 and 3); a rank
/// killed mid-run stops the job with a message naming it, and the run resumes from the last checkpoint on another number of
/// processes to the same weights as an uninterrupted run. Skipped where mpirun is absent.</summary>
[Collection("Serial")]
public sealed class DataParallelTests : IDisposable
{
    private static readonly string[] TinyPretrain = ["--seq-len", "32", "--hidden", "32", "--layers", "2", "--heads", "2", "--kv-heads", "1", "--head-dim", "16", "--intermediate", "64", "--threads", "1"];
    private static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);
    private readonly string _dir = Directory.CreateTempSubdirectory("bitdistill-mpi").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private string P(string name) => Path.Combine(_dir, name);

    [MpiFact]
    public void TwoRanksOfOneMicroBatchPretrainBitwiseTheModelOfOneProcessAccumulatingTwo()
    {
        var (code, log) = MpiFactAttribute.Run(2, P("mpi.log"), Minute, ["pretrain", "--output", P("two"), "--steps", "8", "--batch", "2", .. TinyPretrain]);
        Assert.True(code == 0, log);
        Assert.Contains("data-parallel: 2 ranks", log);
        Assert.Single(log.Split('\n'), l => l.StartsWith("wrote ", StringComparison.Ordinal)); // rank 1 is quiet
        var r = CliRunner.Run(["pretrain", "--output", P("one"), "--steps", "8", "--batch", "2", "--grad-accumulation", "2", .. TinyPretrain]);
        Assert.True(r.Code == 0, r.Err);
        AssertSameLosses(P("one/run/metrics.jsonl"), P("two/run/metrics.jsonl"), 8);
        AssertSameWeights(P("one/model.safetensors"), P("two/model.safetensors"));
    }

    [MpiFact]
    public void TwoRanksDistillStagesTwoAndThreeBitwiseAsOneProcessAccumulatingTwo()
    {
        var data = Path.Combine(AppContext.BaseDirectory, "data");
        var baseDir = P("base");
        var model = ModelRegistry.Create(QwenConfig.Parse("""
            {"model_type": "qwen3", "vocab_size": 2048, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
             "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 16, "rms_norm_eps": 1e-6, "rope_theta": 10000,
             "tie_word_embeddings": true, "max_position_embeddings": 256, "hidden_act": "silu"}
            """), new Generator(5));
        model.SavePretrained(baseDir);
        ModelFolders.CopyTokenizer(Path.Combine(data, "tokenizer"), baseDir);
        string train = Path.Combine(data, "tasks", "sentiment", "train.jsonl.gz");
        var r = CliRunner.Run("finetune", "--model", baseDir, "--task", "classify", "--train", train, "--steps", "2", "--batch", "4", "--max-length", "48", "--eval-rows", "4", "--output", P("teacher"), "--threads", "1");
        Assert.True(r.Code == 0, r.Err + r.Out);
        var corpus = P("corpus.txt");
        File.WriteAllText(corpus, string.Join("\n\n", Enumerable.Range(0, 100).Select(i => $"On the {i}th day the rain stopped and they walked to the village.")));
        string[] Distill(string output) => ["distill", "--teacher", P("teacher"), "--train", train, "--corpus", corpus, "--stage2-tokens", "256", "--stage2-seq-len", "16",
            "--steps", "3", "--batch", "2", "--eval-rows", "4", "--gamma", "10", "--ad-layer", "1", "--relation-heads", "2", "--threads", "1", "--output", output];
        var (code, log) = MpiFactAttribute.Run(2, P("mpi.log"), Minute, Distill(P("two")));
        Assert.True(code == 0, log);
        r = CliRunner.Run([.. Distill(P("one")), "--grad-accumulation", "2"]);
        Assert.True(r.Code == 0, r.Err + r.Out);
        AssertSameLosses(P("one/run/stage2/metrics.jsonl"), P("two/run/stage2/metrics.jsonl"), 4);
        AssertSameLosses(P("one/run/task/metrics.jsonl"), P("two/run/task/metrics.jsonl"), 3);
        AssertSameWeights(P("one/model.safetensors"), P("two/model.safetensors"));
    }

    [MpiFact]
    public void ARankKilledMidRunStopsTheJobAndTheRunResumesOnOneProcessToTheUninterruptedWeights()
    {
        string job = Guid.NewGuid().ToString("N");
        string[] args = ["pretrain", "--output", P("run"), "--steps", "300", "--batch", "2", "--checkpoint-every", "10", .. TinyPretrain];
        using (var p = MpiFactAttribute.Start(2, P("mpi.log"), new Dictionary<string, string> { ["BITDISTILL_TEST_JOB"] = job, ["BITDISTILL_MPI_TIMEOUT"] = "20" }, args))
        {
            var sw = Stopwatch.StartNew();
            while (!Directory.Exists(P("run/run/checkpoint")) && !p.HasExited && sw.Elapsed < Minute) Thread.Sleep(10);
            Assert.False(p.HasExited, File.ReadAllText(P("mpi.log")));
            int rank1 = RankProcess(job, 1);
            Process.GetProcessById(rank1).Kill();
            Assert.True(p.WaitForExit(Minute), "the surviving rank did not stop");
            Assert.NotEqual(0, p.ExitCode);
        }
        var log = File.ReadAllText(P("mpi.log"));
        Assert.Contains("rank 1", log);
        Assert.DoesNotContain("step 300/300", log);

        // resume on one process accumulating two micro-batches: the same rows per step as the two ranks
        var r = CliRunner.Run([.. args, "--grad-accumulation", "2"]);
        Assert.True(r.Code == 0, r.Err + r.Out);
        Assert.Contains("resumed from", r.Out);
        var u = CliRunner.Run(["pretrain", "--output", P("uninterrupted"), "--steps", "300", "--batch", "2", "--checkpoint-every", "10", "--grad-accumulation", "2", .. TinyPretrain]);
        Assert.True(u.Code == 0, u.Err);
        AssertSameWeights(P("uninterrupted/model.safetensors"), P("run/model.safetensors"));
    }

    // the rank's process: a child of mpirun carrying the job's marker and OMPI_COMM_WORLD_RANK
    private static int RankProcess(string job, int rank)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid)) continue;
            string env;
            try { env = File.ReadAllText(Path.Combine(dir, "environ")); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; }
            var vars = env.Split('\0');
            if (vars.Contains("BITDISTILL_TEST_JOB=" + job) && vars.Contains("OMPI_COMM_WORLD_RANK=" + rank)) return pid;
        }
        throw new InvalidOperationException($"no process of rank {rank} found");
    }

    private static void AssertSameLosses(string expected, string actual, int steps)
    {
        static double[] Losses(string path) => File.ReadAllLines(path).Select(l => JsonDocument.Parse(l).RootElement)
            .Where(e => e.TryGetProperty("loss", out _)).Select(e => e.GetProperty("loss").GetDouble()).ToArray();
        var (a, b) = (Losses(expected), Losses(actual));
        Assert.Equal(steps, a.Length);
        Assert.Equal(a, b); // bitwise: with two ranks the sum of two terms does not depend on the order
    }

    private static void AssertSameWeights(string expected, string actual)
    {
        using var a = SafeTensorsFile.Open(expected);
        using var b = SafeTensorsFile.Open(actual);
        Assert.Equal(a.Names.Order(), b.Names.Order());
        foreach (var n in a.Names)
            Assert.True(a.Load(n).ToFloatArray().SequenceEqual(b.Load(n).ToFloatArray()), $"{n} differs");
    }
}
