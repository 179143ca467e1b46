using BitDistill.Cli;
using BitDistill.Kernels;
using BitDistill.Models.BitNet;
using BitDistill.Models.Qwen;
using BitDistill.Runtime;
using Xunit.Abstractions;
using static BitDistill.Tests.TestUtil;

namespace BitDistill.Tests.Runtime;

/// <summary>Batched generation on the runtime (<see cref="BatchSession"/>, <see cref="RuntimeGenerator.GenerateBatch"/>):
/// several prompts of different lengths decode together, each with its own KV cache, position and stopping, and every result
/// equals generating that prompt alone — the same tokens, the same logits, greedy and sampled — on exported ternary models and
/// full-precision checkpoints; a batched decode step allocates nothing.</summary>
public sealed class BatchedGenerationTests(ITestOutputHelper output)
{
    private static readonly int[][] Prompts = [[5, 17, 33, 2, 60, 11, 7, 90, 41], [3], [70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 83], [12, 9, 44]];

    // the committed fixture refined to ternary (paper SubLN) and exported; or the fixture itself (full precision)
    private static string Model(string which)
    {
        var fp = FixturePath("qwen", "qwen3-untied-bias");
        if (which == "fp32") return fp;
        var parts = which.Split('-');
        var qat = Path.Combine(Path.GetTempPath(), $"bitdistill-batch-qat-{Guid.NewGuid():N}");
        var outDir = Path.Combine(Path.GetTempPath(), $"bitdistill-batch-out-{Guid.NewGuid():N}");
        try
        {
            Refiner.Refine(QwenModel.FromPretrained(fp), new BitNetConfig { SubLn = SubLnPlacement.Paper }).SavePretrained(qat);
            var e = new StringWriter();
            Assert.True(ExportCommand.Run(new ExportCommand.Args { Model = qat, Format = parts[0], LmHead = parts[1], Embeddings = parts[1], Output = outDir }, new StringWriter(), e) == 0, e.ToString());
            return outDir;
        }
        finally { if (Directory.Exists(qat)) Directory.Delete(qat, recursive: true); }
    }

    public static TheoryData<string, bool> Cases() => new()
    {
        { "i2-int8", true }, { "t1.6-fp16", false }, { "i2-fp32", true }, { "fp32", true }, { "fp32", false },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void EveryPromptOfABatchGetsWhatItGetsAlone(string which, bool greedy)
    {
        var dir = Model(which);
        try
        {
            var model = RuntimeModel.Load(dir);
            var generator = new RuntimeGenerator(model);
            var sampling = greedy ? new SamplerSettings { Greedy = true } : new SamplerSettings { Temperature = 0.9f, TopK = 20, TopP = 0.95f, RepetitionPenalty = 1.1f, Seed = 7 };
            var free = new RuntimeGenerationOptions { MaxNewTokens = 12, Sampling = sampling, StopTokenIds = [] };
            var alone = Prompts.Select(p => generator.Generate(p, free)).ToArray();
            // a stop token that the first prompt generates early and not all others do: sequences finish at different steps
            int stop = alone[0].GeneratedIds[2];
            var options = free with { StopTokenIds = [stop] };
            alone = Prompts.Select(p => generator.Generate(p, options)).ToArray();
            Assert.True(alone[0].StoppedAtStopToken);

            var streamed = Prompts.Select(_ => new List<int>()).ToArray();
            var batched = generator.GenerateBatch(Prompts, options, (p, id) => streamed[p].Add(id));
            Assert.Equal(Prompts.Length, batched.Length);
            for (int p = 0; p < Prompts.Length; p++)
            {
                output.WriteLine($"{which} {(greedy ? "greedy" : "sampled")} prompt {p}: alone [{string.Join(",", alone[p].GeneratedIds)}] batched [{string.Join(",", batched[p].GeneratedIds)}]");
                Assert.Equal(alone[p].GeneratedIds, batched[p].GeneratedIds);
                Assert.Equal(alone[p].StoppedAtStopToken, batched[p].StoppedAtStopToken);
                Assert.Equal(alone[p].PromptLastLogits, batched[p].PromptLastLogits);
                Assert.Equal(batched[p].GeneratedIds, streamed[p]);
            }
        }
        finally { if (which != "fp32") Directory.Delete(dir, recursive: true); }
    }

    [Theory]
    [InlineData("i2-int8")]
    [InlineData("t1.6-fp16")]
    public void ABatchedDecodeStepGivesEachSequenceItsSingleSequenceLogitsBitForBit(string which)
    {
        // ternary projections are exact integer products rescaled per row, and the head runs row by row: no rounding differs
        var dir = Model(which);
        try
        {
            var model = RuntimeModel.Load(dir);
            var batch = model.CreateBatch(Prompts.Length, 32);
            var singles = Prompts.Select(_ => model.CreateSession(32)).ToArray();
            for (int p = 0; p < Prompts.Length; p++) { batch[p].Append(Prompts[p]); singles[p].Append(Prompts[p]); }
            // steps that leave sequences out and change the order of the rows
            int[][] steps = [[0, 1, 2, 3], [3, 1], [2, 0, 3], [1]];
            int token = 20;
            foreach (var rows in steps)
            {
                var ids = rows.Select(_ => token++ % model.Config.VocabSize).ToArray();
                batch.Decode(rows, ids);
                for (int j = 0; j < rows.Length; j++) singles[rows[j]].Decode(ids[j]);
                foreach (int r in rows) Assert.Equal(singles[r].Logits.ToFloatArray(), batch[r].Logits.ToFloatArray());
            }
            Assert.Equal(singles.Select(s => s.Length), Enumerable.Range(0, Prompts.Length).Select(p => batch[p].Length));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void BatchedDecodeStepsAllocateNothingAndBadStepsAreRefused()
    {
        var dir = Model("i2-int8");
        try
        {
            var model = RuntimeModel.Load(dir);
            var batch = model.CreateBatch(3, 80);
            for (int p = 0; p < 3; p++) batch[p].Append(Prompts[p]);
            int[] rows = [0, 1, 2], ids = [4, 5, 6];
            for (int i = 0; i < 3; i++) batch.Decode(rows, ids);
            long allocated = LeastThreadAllocation(3, () => { for (int i = 0; i < 16; i++) batch.Decode(rows, ids); });
            output.WriteLine($"{allocated} bytes over 16 batched decode steps of 3 sequences (fewest of up to 3 windows)");
            Assert.Equal(0, allocated);

            Assert.Throws<ArgumentException>(() => batch.Decode([0, 0], [1, 2]));
            Assert.Throws<ArgumentOutOfRangeException>(() => batch.Decode([3], [1]));
            Assert.Throws<ArgumentOutOfRangeException>(() => batch.Decode([0], [model.Config.VocabSize]));
            var fresh = model.CreateBatch(2, 8);
            Assert.Throws<InvalidOperationException>(() => fresh.Decode([1], [1])); // no prompt yet
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void GenerateWithAPromptsFileGivesEachLineWhatPromptGivesAlone()
    {
        var dir = Model("i2-int8");
        var file = Path.Combine(Path.GetTempPath(), $"bitdistill-prompts-{Guid.NewGuid():N}.txt");
        var tok = TinyTokenizerFolder();
        try
        {
            string[] lines = ["Hello there", "", "A much longer prompt, with punctuation!", "x"];
            File.WriteAllLines(file, lines);
            var o = new StringWriter(); var e = new StringWriter();
            Assert.True(GenerateCommand.Run(new() { Model = dir, Tokenizer = tok, PromptsFile = file, BatchSize = 2, MaxNewTokens = 10, Greedy = true, Json = true }, o, e) == 0, e.ToString());
            var batched = o.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement.Clone()).ToArray();
            var prompts = lines.Where(l => l.Length > 0).ToArray();
            Assert.Equal(prompts.Length, batched.Length); // the blank line is skipped
            for (int i = 0; i < prompts.Length; i++)
            {
                o = new StringWriter(); e = new StringWriter();
                Assert.True(GenerateCommand.Run(new() { Model = dir, Tokenizer = tok, Prompt = prompts[i], MaxNewTokens = 10, Greedy = true, Json = true }, o, e) == 0, e.ToString());
                var alone = System.Text.Json.JsonDocument.Parse(o.ToString()).RootElement;
                Assert.Equal(alone.GetProperty("generated_ids").ToString(), batched[i].GetProperty("generated_ids").ToString());
                Assert.Equal(alone.GetProperty("text").GetString(), batched[i].GetProperty("text").GetString());
                Assert.Equal(alone.GetProperty("prompt_ids").ToString(), batched[i].GetProperty("prompt_ids").ToString());
            }
            // bad use: one line naming what is wrong, exit code 2
            e = new StringWriter();
            Assert.Equal(ErrorPolicy.BadInput, GenerateCommand.Run(new() { Model = dir, Tokenizer = tok, PromptsFile = file, Prompt = "x", Json = true }, new StringWriter(), e));
            Assert.Contains("exactly one of", e.ToString());
            e = new StringWriter();
            Assert.Equal(ErrorPolicy.BadInput, GenerateCommand.Run(new() { Model = dir, Tokenizer = tok, PromptsFile = file + ".missing", Json = true }, new StringWriter(), e));
            Assert.Contains("does not exist", e.ToString());
            Assert.Single(e.ToString().TrimEnd().Split('\n'));
        }
        finally { Directory.Delete(dir, recursive: true); Directory.Delete(tok, recursive: true); File.Delete(file); }
    }
}
