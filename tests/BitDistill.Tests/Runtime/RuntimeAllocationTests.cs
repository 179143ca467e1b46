using BitDistill.Cli;
using BitDistill.Kernels;
using BitDistill.Models.BitNet;
using BitDistill.Models.Qwen;
using BitDistill.Runtime;
using BitDistill.Tensors;
using Xunit.Abstractions;
using static BitDistill.Tests.TestUtil;

namespace BitDistill.Tests.Runtime;

/// <summary>After warm-up, a decode step of the runtime (forward, logits and sampling) allocates nothing: measured with
/// GC.GetAllocatedBytesForCurrentThread over 32 steps (the fewest of up to three such windows, see
/// <see cref="TestUtil.LeastThreadAllocation"/>), on the fixture model (single-threaded kernels) and on a wider random
/// model whose GEMVs and attention are split over the kernel thread team (with a Float32 and a Float16 KV cache), and on that model exported as ternary (i2 with an
/// INT8 lm_head, t1.6 with FP16 tables).</summary>
public sealed class RuntimeAllocationTests(ITestOutputHelper output)
{
    public static TheoryData<string, bool> Cases() => new()
    {
        { "fixture", true }, { "fixture", false }, { "wide", true }, { "wide", false },
        { "wide-i2-int8", true }, { "wide-t1.6-fp16", false }, { "wide-kv16", true },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void DecodeStepsAllocateNothing(string which, bool greedy)
    {
        // two threads at least, so the team dispatch of the GEMV (and, given two cores, of attention) is what is measured
        using var threads = KernelContext.Override(degreeOfParallelism: Math.Max(2, KernelContext.Current.DegreeOfParallelism));
        string dir = which == "fixture" ? FixturePath("qwen", "qwen3-untied-bias") : which is "wide" or "wide-kv16" ? WideModel() : WideExported(which);
        try
        {
            var model = RuntimeModel.Load(dir);
            const int steps = 32, warmup = 4, windows = 3;
            int promptLength = which == "fixture" ? 9 : 300;
            var seen = new int[promptLength + warmup + windows * steps + 1];
            for (int i = 0; i < promptLength; i++) seen[i] = (i * 7 + 3) % model.Config.VocabSize;
            var session = model.CreateSession(seen.Length, kvCache: which.EndsWith("kv16", StringComparison.Ordinal) ? DType.Float16 : DType.Float32);
            var sampler = new TokenSampler(greedy ? new SamplerSettings { Greedy = true }
                : new SamplerSettings { Temperature = 0.8f, TopK = 40, TopP = 0.9f, RepetitionPenalty = 1.2f, Seed = 5 });
            session.Append(seen.AsSpan(0, promptLength));
            int n = promptLength;
            void Step()
            {
                int next = InferenceOps.Sample(sampler, session.Logits, seen.AsSpan(0, n));
                seen[n++] = next;
                session.Decode(next);
            }
            for (int i = 0; i < warmup; i++) Step();

            long allocated = LeastThreadAllocation(windows, () => { for (int i = 0; i < steps; i++) Step(); });
            output.WriteLine($"{which}, {(greedy ? "greedy" : "top-p")}: {allocated} bytes over {steps} decode steps (fewest of up to {windows} windows) ending at position {n - 1}");
            Assert.Equal(0, allocated);
        }
        finally { if (which != "fixture") Directory.Delete(dir, recursive: true); }
    }

    // The wide model refined to ternary (paper SubLN) and exported by `bitdistill export` ("wide-PACKING-TABLES").
    private static string WideExported(string which)
    {
        var parts = which.Split('-');
        var fp = WideModel();
        var qat = fp + "-qat";
        var outDir = fp + "-packed";
        try
        {
            Refiner.Refine(QwenModel.FromPretrained(fp), new BitNetConfig { SubLn = SubLnPlacement.Paper }).SavePretrained(qat);
            var e = new StringWriter();
            Assert.True(ExportCommand.Run(new ExportCommand.Args { Model = qat, Format = parts[1], LmHead = parts[2], Embeddings = parts[2], Output = outDir }, new StringWriter(), e) == 0, e.ToString());
            return outDir;
        }
        finally { Directory.Delete(fp, recursive: true); if (Directory.Exists(qat)) Directory.Delete(qat, recursive: true); }
    }

    // A random Qwen3 wide enough that every projection and the lm_head GEMV use two threads (rows·cols ≥ 2·32768), with 4 heads
    // of 64 so attention over 300+ cached positions does too.
    private static string WideModel()
    {
        var config = QwenConfig.Parse("""
            { "model_type": "qwen3", "vocab_size": 2048, "hidden_size": 256, "intermediate_size": 768, "num_hidden_layers": 2,
              "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 64, "max_position_embeddings": 1024,
              "tie_word_embeddings": false, "eos_token_id": 2 }
            """);
        var dir = Path.Combine(Path.GetTempPath(), $"bitdistill-runtime-alloc-{Guid.NewGuid():N}");
        new QwenModel(config, new Generator(42)).SavePretrained(dir);
        return dir;
    }
}
