using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using BitDistill.Kernels;
using BitDistill.Models.Tokenization;

namespace BitDistill.Cli;

/// <summary>`bitdistill bench`: this machine's FP32 FMA peak, SGEMM GFLOP/s at the standard shapes and tokenizer encoding speed.</summary>
public static class BenchCommand
{
    private static readonly (int M, int K, int N)[] Shapes = [(1024, 1024, 1024), (2048, 256, 768), (2048, 768, 256)];

    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var threads = new Option<string>("--threads")
        {
            Description = "Comma-separated thread counts to measure (e.g. 1,2).",
            DefaultValueFactory = _ => Environment.ProcessorCount > 1 ? $"1,{Environment.ProcessorCount}" : "1",
        };
        var quick = new Option<bool>("--quick") { Description = "Fewer, shorter runs (a few seconds)." };
        var tokenizers = new Option<string[]>("--tokenizer")
        {
            Description = "Also measure encoding MB/s of this tokenizer (a tokenizer.json, .json.gz or folder; repeatable) on the shipped Austen corpus; the shipped byte-level tokenizer is always measured.",
        };
        var command = new Command("bench", "Measure the FP32 FMA peak, SGEMM GFLOP/s and tokenizer encoding MB/s of this machine; `bench runtime` measures the ternary inference runtime, `bench device` a GPU against the CPU.") { threads, quick, tokenizers };
        command.Subcommands.Add(CreateRuntime());
        command.Subcommands.Add(DeviceBench.Create());
        command.SetAction(parse => ErrorPolicy.Run("bench", parse, () =>
        {
            int[] counts;
            try
            {
                counts = parse.GetValue(threads)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                    .Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
            }
            catch (FormatException) { counts = []; }
            if (counts.Length == 0 || counts.Any(c => c < 1))
                throw new UsageException($"--threads expects positive integers separated by commas, got '{parse.GetValue(threads)}'");
            // Tokenizers load before the measurements, so a bad path fails at once.
            var toks = new List<TextTokenizer> { TextTokenizer.Load(Path.Combine(DemoCommand.EmbeddedDataDir, "tokenizer")) };
            foreach (var t in parse.GetValue(tokenizers) ?? []) toks.Add(TextTokenizer.Load(t));
            int code = Run(counts, parse.GetValue(quick), Console.Out);
            RunTokenizers(toks, Path.Combine(DemoCommand.EmbeddedDataDir, "corpus", "austen.train.txt.gz"), parse.GetValue(quick), Console.Out);
            return code;
        }));
        return command;
    }

    /// <summary>`bench runtime`: the exported-model runtime's prefill and decode speed against its memory bound and llama.cpp.</summary>
    private static Command CreateRuntime()
    {
        var threads = new Option<string>("--threads")
        {
            Description = "comma-separated thread counts to measure (e.g. 1,2)",
            DefaultValueFactory = _ => Environment.ProcessorCount > 1 ? $"1,{Environment.ProcessorCount}" : "1",
        };
        var simd = new Option<string>("--simd")
        {
            Description = "comma-separated SIMD levels to force the kernels to, each measured (Vector512, Vector256, Vector128, Scalar; default: this CPU's)",
            DefaultValueFactory = _ => KernelContext.HardwareSimd.ToString(),
        };
        var config = new Option<string>("--config") { Description = "a Qwen config.json giving the model shape (default: Qwen3-0.6B); weights are random ternary" };
        var formats = new Option<string>("--formats") { Description = "comma-separated packings to measure: i2, t1.6, and the full-precision baselines fp16, bf16, fp32 (the same shape as a Hugging Face checkpoint of that type)", DefaultValueFactory = _ => "i2,t1.6" };
        var heads = new Option<string>("--lm-heads") { Description = "comma-separated lm_head storages to measure: int8, fp16, fp32", DefaultValueFactory = _ => "int8,fp16" };
        var prompt = new Option<int>("--prompt-tokens") { Description = "prompt length of the prefill measurement (llama-bench -p)", DefaultValueFactory = _ => 128 };
        var gen = new Option<int>("--gen-tokens") { Description = "tokens of the decode measurement (llama-bench -n)", DefaultValueFactory = _ => 64 };
        var kvCache = new Option<string>("--kv-cache") { Description = "comma-separated KV caches to measure: fp32, fp16 (llama-bench's default cache is f16)", DefaultValueFactory = _ => "fp32" };
        var depth = new Option<int>("--depth") { Description = "positions already in the KV cache before each prefill and decode measurement (llama-bench -d): decode speed at a long context", DefaultValueFactory = _ => 0 };
        var repeats = new Option<int>("--repeats") { Description = "rounds of measurement: each round measures every row once and runs llama-bench once per file (-r 1), so that the machine's swings hit all rows alike; the median over the rounds is reported", DefaultValueFactory = _ => 3 };
        var work = new Option<string>("--work") { Description = "folder for the generated models, kept and reused by later runs (default: a temporary folder, deleted)" };
        var peer = new Option<string>("--peer") { Description = "measure a peer in the same run: llamacpp (llama-bench on TQ2_0/TQ1_0 files; see --peer-bin, --peer-models)" };
        var peerBin = new Option<string>("--peer-bin") { Description = "folder with llama.cpp's llama-bench (default: $BITDISTILL_LLAMACPP_BIN)" };
        var peerModels = new Option<string>("--peer-models") { Description = "folder with the peer's qwen3-0.6b-rand-TQ2_0.gguf etc., as ../shared/peers/llamacpp/run_peer.sh writes them (default: $BITDISTILL_LLAMACPP_MODELS)" };
        var json = new Option<string>("--json") { Description = "write the rows as a JSON array of objects (model, format, lm_head, threads, decode_tokens_per_s, prefill_tokens_per_s, bytes_per_token, bound_tokens_per_s, weights_bytes, resident_bytes, engine)" };
        var residentOf = new Option<string>("--resident-of") { Description = "load only this exported model folder and print its resident memory (the bench runs itself with it in a fresh process)" };
        var command = new Command("runtime", "Prefill and decode tokens/s of packed ternary models (random weights of a real shape) on the inference runtime, "
            + "bytes read per token against the measured memory bandwidth, file size and resident memory; with --peer llamacpp, llama.cpp's TQ2_0/TQ1_0 in the same run.")
            { threads, simd, config, formats, heads, prompt, gen, kvCache, depth, repeats, work, peer, peerBin, peerModels, json, residentOf };
        command.SetAction(parse => ErrorPolicy.Run("bench runtime", parse, () =>
        {
            if (parse.GetValue(residentOf) is { } only) return RuntimeBench.PrintResidentOfLoad(only, Console.Out);
            int[] counts;
            try
            {
                counts = parse.GetValue(threads)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                    .Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
            }
            catch (FormatException) { counts = []; }
            if (counts.Length == 0 || counts.Any(c => c < 1))
                throw new UsageException($"--threads expects positive integers separated by commas, got '{parse.GetValue(threads)}'");
            if (parse.GetValue(prompt) < 1 || parse.GetValue(gen) < 1 || parse.GetValue(repeats) < 1)
                throw new UsageException("--prompt-tokens, --gen-tokens and --repeats must be ≥ 1");
            if (parse.GetValue(depth) < 0) throw new UsageException($"--depth must be ≥ 0, got {parse.GetValue(depth)}");
            var caches = parse.GetValue(kvCache)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (caches.Length == 0) throw new UsageException("--kv-cache: give at least one of fp32, fp16");
            foreach (var c in caches) GenerateCommand.KvCacheType(c); // a one-line error naming the option
            var levels = new List<SimdLevel>();
            foreach (var name in parse.GetValue(simd)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (!Enum.TryParse<SimdLevel>(name, ignoreCase: true, out var level) || !Enum.IsDefined(level) || int.TryParse(name, out _))
                    throw new UsageException($"--simd: '{name}' is not one of {string.Join(", ", Enum.GetNames<SimdLevel>())}");
                if (level > KernelContext.HardwareSimd)
                    throw new UsageException($"--simd: {level} is above what this CPU runs ({KernelContext.HardwareSimd})");
                levels.Add(level);
            }
            if (levels.Count == 0) throw new UsageException("--simd: give at least one SIMD level");
            string? peerName = parse.GetValue(peer);
            if (peerName is not (null or "llamacpp" or "none")) throw new UsageException($"--peer must be llamacpp or none, got '{peerName}'");
            string? bin = null, models = null;
            if (peerName == "llamacpp")
            {
                bin = parse.GetValue(peerBin) ?? Environment.GetEnvironmentVariable("BITDISTILL_LLAMACPP_BIN")
                    ?? throw new UsageException("--peer llamacpp needs --peer-bin DIR (or BITDISTILL_LLAMACPP_BIN): the folder with llama-bench");
                models = parse.GetValue(peerModels) ?? Environment.GetEnvironmentVariable("BITDISTILL_LLAMACPP_MODELS")
                    ?? throw new UsageException("--peer llamacpp needs --peer-models DIR (or BITDISTILL_LLAMACPP_MODELS): the folder with the GGUF files");
            }
            string? cfg = parse.GetValue(config);
            if (cfg is not null && !File.Exists(cfg)) throw new UsageException($"--config '{cfg}' does not exist");
            OutputFile.Check("--json", parse.GetValue(json));
            if (parse.GetValue(work) is { } w && File.Exists(w)) throw new UsageException($"--work: '{w}' is a file; give a folder (created if missing)");
            static string[] List(string v) => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            return RuntimeBench.Run(new RuntimeBench.Options
            {
                Config = cfg, Formats = List(parse.GetValue(formats)!), LmHeads = List(parse.GetValue(heads)!), Threads = counts, SimdLevels = levels,
                Prompt = parse.GetValue(prompt), Generate = parse.GetValue(gen), Repeats = parse.GetValue(repeats), Work = parse.GetValue(work),
                KvCaches = caches.Distinct().ToArray(), Depth = parse.GetValue(depth),
                PeerBin = bin, PeerModels = models, Json = parse.GetValue(json),
            }, Console.Out);
        }));
        return command;
    }

    /// <summary>Measures and prints a markdown table; returns the exit code.</summary>
    public static int Run(int[] threadCounts, bool quick, TextWriter output)
    {
        int runs = quick ? 3 : 7, reps = quick ? 3 : 10;
        var total = Stopwatch.StartNew();
        output.WriteLine($"SIMD {KernelContext.Current.Simd} (hardware {KernelContext.HardwareSimd}), {Environment.ProcessorCount} logical cores, .NET {Environment.Version}");
        var peak = new Dictionary<int, double>();
        foreach (int t in threadCounts)
        {
            peak[t] = FmaPeak.Measure(t, quick ? 4 : 8); // best of several rounds: a 2-thread round is easily disturbed by another process
            output.WriteLine($"FP32 FMA peak, {t} thread(s): {peak[t]:F1} GFLOP/s");
        }
        output.WriteLine();
        output.WriteLine("| shape (M×K×N) | threads | SGEMM GFLOP/s | % of FMA peak |");
        output.WriteLine("|---|---:|---:|---:|");
        foreach (int t in threadCounts)
            foreach (var (m, k, n) in Shapes)
            {
                double g = SgemmThroughput.Measure(m, k, n, t, runs, reps);
                output.WriteLine($"| {m}×{k}×{n} | {t} | {g:F1} | {100 * g / peak[t]:F0}% |");
            }
        output.WriteLine();
        output.WriteLine($"(median of {runs} runs of {reps} products after warm-up; {total.Elapsed.TotalSeconds:F1} s)");
        return 0;
    }

    /// <summary>Prints a markdown table of encoding MB/s (one thread, line by line) for each tokenizer on a text file.</summary>
    public static void RunTokenizers(IReadOnlyList<TextTokenizer> tokenizers, string textPath, bool quick, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(tokenizers);
        ArgumentNullException.ThrowIfNull(output);
        string text = TokenizerThroughput.ReadSample(textPath, quick ? 512 << 10 : 2 << 20);
        int runs = quick ? 3 : 5;
        output.WriteLine();
        output.WriteLine("| tokenizer | family | vocab | encode MB/s (1 thread) |");
        output.WriteLine("|---|---|---:|---:|");
        foreach (var t in tokenizers)
        {
            double rate = TokenizerThroughput.Measure(t, text, runs);
            output.WriteLine($"| {t.Source} | {(t.IsSentencePieceStyle ? "SentencePiece-style BPE" : "byte-level BPE")} | {t.VocabSize:N0} | {rate:F2} |");
        }
        output.WriteLine();
        output.WriteLine($"(median of {runs} parts of {Encoding.UTF8.GetByteCount(text) / 1e6:F2} MB of {Path.GetFileName(textPath)}, each new text, after a warm-up part)");
    }
}
