using System.Text.Json;
using BitDistill.Cli;
using BitDistill.Kernels;
using BitDistill.Tests.Cli;

namespace BitDistill.Tests.Runtime;

/// <summary>`bench runtime` on a tiny shape: writes and loads packed models, measures prefill and decode, reports the bound from the
/// bytes per token, and reads llama-bench's CSV (a stand-in script here) into rows with our speed as a multiple of the peer's.</summary>
[Collection(SerialCollection.Name)] // the CLI test captures the process-wide Console
public sealed class RuntimeBenchTests
{
    [Fact]
    public void TheBenchMeasuresPackedModelsAndSetsThemAgainstThePeersCsv()
    {
        if (OperatingSystem.IsWindows()) return; // the stand-in llama-bench is a shell script
        var dir = Path.Combine(Path.GetTempPath(), $"bitdistill-bench-rt-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path.Combine(dir, "bin"));
        Directory.CreateDirectory(Path.Combine(dir, "models"));
        try
        {
            var config = WriteTinyConfig(dir, layers: 2);
            // llama-bench -o csv: quoted fields, one row per (test, threads)
            var bench = Path.Combine(dir, "bin", "llama-bench");
            File.WriteAllText(bench, """
                #!/bin/sh
                echo "$@" >> "$(dirname "$0")/calls.log"
                echo '"build_commit","model_size","n_threads","n_prompt","n_gen","avg_ts","stddev_ts"'
                echo '"34af94cd9","241000000","1","16","0","50.000000","1.0"'
                echo '"34af94cd9","241000000","1","0","8","20.000000","0.5"'
                """);
            File.SetUnixFileMode(bench, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            File.WriteAllText(Path.Combine(dir, "models", "qwen3-0.6b-rand-TQ2_0.gguf"), "stand-in");
            var json = Path.Combine(dir, "rows.json");
            var o = new StringWriter();
            int code = RuntimeBench.Run(new RuntimeBench.Options
            {
                Config = config, Formats = ["i2", "fp16", "bf16"], LmHeads = ["int8"], Threads = [1], SimdLevels = [SimdLevel.Vector128], Prompt = 16, Generate = 8, Repeats = 2,
                KvCaches = ["fp32", "fp16"], Depth = 5, Work = Path.Combine(dir, "work"), PeerBin = Path.Combine(dir, "bin"), PeerModels = Path.Combine(dir, "models"), Json = json, MeasureResident = false,
            }, o);
            Assert.Equal(0, code);
            // interleaved rounds: each round measures every row once and runs llama-bench once per file (one repetition)
            Assert.Contains("round 2/2", o.ToString());
            var calls = File.ReadAllLines(Path.Combine(dir, "bin", "calls.log"));
            Assert.Equal(2, calls.Length);
            Assert.All(calls, c => Assert.Contains("-r 1", c));
            Assert.All(calls, c => Assert.Contains("-d 5", c)); // the same depth for the peer
            var rows = JsonDocument.Parse(File.ReadAllText(json)).RootElement.EnumerateArray().ToArray();
            // each KV cache a row of its own; the half cache takes half the bytes; every row starts after --depth positions
            var half = Assert.Single(rows, r => r.GetProperty("format").GetString() == "i2" && r.GetProperty("kv_cache").GetString() == "fp16");
            var ours = Assert.Single(rows, r => r.GetProperty("engine").GetString() == "bitdistill" && r.GetProperty("format").GetString() == "i2" && r.GetProperty("kv_cache").GetString() == "fp32");
            Assert.Equal(ours.GetProperty("kv_cache_bytes").GetInt64(), 2 * half.GetProperty("kv_cache_bytes").GetInt64());
            Assert.True(half.GetProperty("decode_tokens_per_s").GetDouble() > 0);
            Assert.All(rows, r => Assert.Equal(5, r.GetProperty("depth").GetInt32()));
            Assert.Contains("after 5 positions in the KV cache", o.ToString());
            // the FP16 baseline: the same shape as an FP16 checkpoint, every weight read at 2 bytes, set against i2 in the output
            var fp16 = Assert.Single(rows, r => r.GetProperty("format").GetString() == "fp16" && r.GetProperty("kv_cache").GetString() == "fp32");
            Assert.Equal("fp16", fp16.GetProperty("lm_head").GetString());
            Assert.True(fp16.GetProperty("decode_tokens_per_s").GetDouble() > 0);
            Assert.True(fp16.GetProperty("bytes_per_token").GetInt64() > 2 * ours.GetProperty("bytes_per_token").GetInt64());
            Assert.Contains("i2 (lm_head int8) over fp16, 1 thread(s), kv cache fp32: decode", o.ToString());
            Assert.Contains("i2 (lm_head int8) over fp16, 1 thread(s), kv cache fp16: decode", o.ToString());
            var bf16 = Assert.Single(rows, r => r.GetProperty("format").GetString() == "bf16" && r.GetProperty("kv_cache").GetString() == "fp32"); // kept at 16 bits too
            Assert.Equal(fp16.GetProperty("bytes_per_token").GetInt64(), bf16.GetProperty("bytes_per_token").GetInt64());
            Assert.True(bf16.GetProperty("decode_tokens_per_s").GetDouble() > 0);
            var peer = Assert.Single(rows, r => r.GetProperty("engine").GetString() == "llama.cpp");
            Assert.Equal("i2", ours.GetProperty("format").GetString());
            Assert.Equal("int8", ours.GetProperty("lm_head").GetString());
            Assert.Equal("Vector128", ours.GetProperty("simd").GetString()); // the forced level, as a CPU without AVX runs
            Assert.Equal("native", peer.GetProperty("simd").GetString());
            Assert.True(ours.GetProperty("decode_tokens_per_s").GetDouble() > 0);
            Assert.True(ours.GetProperty("prefill_tokens_per_s").GetDouble() > 0);
            // bytes per token: the keys and values a decode step reads at the mean decoded position (depth 5 + 2 + (8 − 1) / 2:
            // 2 (K, V) × 2 layers × 2 KV heads × 16 dims × 4 bytes × 10.5 positions; half that from the half cache) and the weights,
            // 2 layers × 7 packed projections + the INT8 table (300 × 64 + scales) + one embedding row
            long bytes = ours.GetProperty("bytes_per_token").GetInt64();
            Assert.Equal(5376, ours.GetProperty("kv_bytes_per_token").GetInt64());
            Assert.Equal(2688, half.GetProperty("kv_bytes_per_token").GetInt64());
            Assert.Equal(bytes - 5376, half.GetProperty("bytes_per_token").GetInt64() - 2688);
            Assert.InRange(bytes - 5376, 300 * 64, 300 * 64 + 2 * 7 * 160 * 64);
            Assert.True(ours.GetProperty("bound_tokens_per_s").GetDouble() > 0);
            // the bound: per round, the higher of the bandwidths measured right before and after that round's decode, over the
            // bytes per token; the row's bound is the median of the rounds' (two rounds: their mean), its share the median of the
            // rounds' decode over bound
            var perRound = ours.GetProperty("read_bandwidth_gb_per_s").EnumerateArray().Select(e => e.GetDouble()).ToArray();
            Assert.Equal(2, perRound.Length);
            Assert.All(perRound, b => Assert.True(b > 0));
            double bound = ours.GetProperty("bound_tokens_per_s").GetDouble();
            Assert.Equal((perRound[0] + perRound[1]) / 2 * 1e9 / bytes, bound, bound * 1e-12);
            double share = ours.GetProperty("share_of_bound").GetDouble();
            Assert.True(share > 0);
            Assert.Contains(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"| {bound:F1} | {100 * share:F0}% |"), o.ToString());
            Assert.Equal(0, peer.GetProperty("share_of_bound").GetDouble());
            Assert.Equal(20.0, peer.GetProperty("decode_tokens_per_s").GetDouble());
            Assert.Equal(50.0, peer.GetProperty("prefill_tokens_per_s").GetDouble());
            Assert.Equal("TQ2_0", peer.GetProperty("format").GetString());
            double ratio = ours.GetProperty("decode_tokens_per_s").GetDouble() / 20.0;
            Assert.Contains($"{ratio:F2}×", o.ToString()); // the table sets ours against the peer
            Assert.Contains("load average before", o.ToString());
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void AOneTokenPromptIsMeasuredLikeAnyOther()
    {
        // the warm-up decoded the prompt's first four tokens and ran past the end of a shorter prompt
        var dir = Path.Combine(Path.GetTempPath(), $"bitdistill-bench-rt1-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            var config = WriteTinyConfig(dir, layers: 1);
            var json = Path.Combine(dir, "rows.json");
            int code = RuntimeBench.Run(new RuntimeBench.Options
            {
                Config = config, Formats = ["i2"], LmHeads = ["int8"], Threads = [1], SimdLevels = [SimdLevel.Vector128], Prompt = 1, Generate = 2,
                Repeats = 1, Work = Path.Combine(dir, "work"), Json = json, MeasureResident = false,
            }, new StringWriter());
            Assert.Equal(0, code);
            var row = Assert.Single(JsonDocument.Parse(File.ReadAllText(json)).RootElement.EnumerateArray());
            Assert.True(row.GetProperty("prefill_tokens_per_s").GetDouble() > 0);
            Assert.True(row.GetProperty("decode_tokens_per_s").GetDouble() > 0);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Theory]
    [InlineData("Vector1024", "'Vector1024' is not one of")]
    [InlineData("7", "'7' is not one of")]
    [InlineData(",", "give at least one SIMD level")]
    [InlineData("Scalar --formats i3", "--formats: 'i3' is not i2, t1.6, fp16, bf16 or fp32")]
    [InlineData("Scalar --lm-heads int4", "--lm-heads: 'int4' is not int8, fp16 or fp32")]
    [InlineData("Scalar --formats ,", "--formats: give at least one of")]
    [InlineData("Scalar --lm-heads ,", "--lm-heads: give at least one of")]
    [InlineData("Scalar --work RuntimeBenchTests.cs.nonfolder", "is a file; give a folder")]
    [InlineData("Scalar --config RuntimeBenchTests.cs.nonfolder", "RuntimeBenchTests.cs.nonfolder' is not valid JSON")]
    [InlineData("Scalar --kv-cache fp8", "--kv-cache: 'fp8' is not fp32 or fp16")]
    [InlineData("Scalar --kv-cache ,", "--kv-cache: give at least one of fp32, fp16")]
    [InlineData("Scalar --depth -3", "--depth must be ≥ 0, got -3")]
    [InlineData("Scalar --depth 40900", "needs 41028 positions; the model's max_position_embeddings is 40960")]
    public void ABadSimdLevelFormatOrHeadIsAOneLineErrorBeforeAnyWork(string simd, string expected)
    {
        string file = Path.Combine(Path.GetTempPath(), "RuntimeBenchTests.cs.nonfolder");
        File.WriteAllText(file, "not a folder");
        var (code, output, err) = CliRunner.Run(["bench", "runtime", "--simd", .. simd.Replace("RuntimeBenchTests.cs.nonfolder", file).Split(' ')]);
        File.Delete(file);
        Assert.DoesNotContain("bandwidth", output); // nothing measured first
        Assert.Equal(2, code);
        Assert.Contains(expected, err);
        Assert.Single(err.Trim().Split('\n'));
    }

    // A Qwen3 config.json of a tiny shape in dir (vocabulary 300, width 64, 4 heads).
    private static string WriteTinyConfig(string dir, int layers)
    {
        var config = Path.Combine(dir, "config.json");
        File.WriteAllText(config, $$"""
            {"model_type": "qwen3", "vocab_size": 300, "hidden_size": 64, "intermediate_size": 160, "num_hidden_layers": {{layers}},
             "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "rms_norm_eps": 1e-6, "rope_theta": 10000,
             "max_position_embeddings": 256, "tie_word_embeddings": true, "eos_token_id": 2}
            """);
        return config;
    }
}
