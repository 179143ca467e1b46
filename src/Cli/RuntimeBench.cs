using System.Diagnostics;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using BitDistill.Kernels;
using BitDistill.Models.Qwen;
using BitDistill.Runtime;
using BitDistill.Tensors;

namespace BitDistill.Cli;

/// <summary>`bitdistill bench runtime`: prefill and decode tokens/s of exported (packed ternary) models of a given shape (default
/// Qwen3-0.6B, random ternary weights), bytes read per decoded token, the measured read bandwidth and the decode speed it allows
/// (the bound), file size and resident memory; with a llama.cpp build (<c>--peer-bin</c>, <c>--peer-models</c>), llama-bench on
/// the matching TQ2_0 / TQ1_0 files in the same run, same threads, and our speed as a multiple of theirs.</summary>
public static class RuntimeBench
{
    /// <summary>What to measure.</summary>
    public sealed record Options
    {
        /// <summary>A Qwen config.json giving the shape; null = Qwen3-0.6B.</summary>
        public string? Config { get; init; }
        /// <summary>Packings to measure ("i2", "t1.6"), and the full-precision baselines "fp16", "bf16", "fp32": a Hugging Face
        /// checkpoint in that type (its head in that type too, whatever <see cref="LmHeads"/> says).</summary>
        public IReadOnlyList<string> Formats { get; init; } = ["i2", "t1.6"];
        /// <summary>lm_head storages to measure ("int8", "fp16", "fp32").</summary>
        public IReadOnlyList<string> LmHeads { get; init; } = ["int8", "fp16"];
        /// <summary>Thread counts.</summary>
        public IReadOnlyList<int> Threads { get; init; } = [1];
        /// <summary>SIMD levels the kernels are forced to, each measured in turn (what CPUs without AVX-512, or ARM, run).</summary>
        public IReadOnlyList<SimdLevel> SimdLevels { get; init; } = [KernelContext.HardwareSimd];
        /// <summary>Prompt tokens of the prefill measurement (llama-bench -p).</summary>
        public int Prompt { get; init; } = 128;
        /// <summary>Decoded tokens of the decode measurement (llama-bench -n).</summary>
        public int Generate { get; init; } = 64;
        /// <summary>KV caches to measure ("fp32", "fp16"), each a row.</summary>
        public IReadOnlyList<string> KvCaches { get; init; } = ["fp32"];
        /// <summary>Positions in the KV cache before each measurement (llama-bench -d).</summary>
        public int Depth { get; init; }
        /// <summary>Repetitions (the median is reported).</summary>
        public int Repeats { get; init; } = 3;
        /// <summary>Folder for the generated models (kept and reused); null = a temporary folder, deleted afterwards.</summary>
        public string? Work { get; init; }
        /// <summary>Folder holding llama.cpp's llama-bench; null = no peer.</summary>
        public string? PeerBin { get; init; }
        /// <summary>Folder holding the peer's GGUF files (run_peer.sh's models folder).</summary>
        public string? PeerModels { get; init; }
        /// <summary>Write one JSON object per row here.</summary>
        public string? Json { get; init; }
        /// <summary>Measure each model's resident memory in a fresh `bitdistill` process (off when not run from the CLI).</summary>
        public bool MeasureResident { get; init; } = true;
    }

    /// <summary>One measured (model, format, lm_head, threads).</summary>
    public sealed record Row(string Model, string Format, string LmHead, int Threads, double DecodeTokensPerSecond, double PrefillTokensPerSecond,
        long BytesPerToken, double BoundTokensPerSecond, long WeightsBytes, long ResidentBytes, string Engine)
    {
        /// <summary>Peak resident memory of a process that only loads the model, above its resident memory before loading.</summary>
        public long PeakResidentBytes { get; init; }
        /// <summary>The SIMD level our kernels ran at ("native" for the peer: its own build's).</summary>
        public string Simd { get; init; } = "native";
        /// <summary>Median over the rounds of decode tokens/s over that round's bound (0 for the peer).</summary>
        public double ShareOfBound { get; init; }
        /// <summary>Read bandwidth of each round (GB/s): the higher of the probes right before and right after its decode.</summary>
        public IReadOnlyList<double> BandwidthPerRound { get; init; } = [];
        /// <summary>KV cache type ("fp32", "fp16"; llama-bench's default "f16" for the peer).</summary>
        public string KvCache { get; init; } = "f16";
        /// <summary>Bytes of the session's KV cache (0 for the peer).</summary>
        public long KvCacheBytes { get; init; }
        /// <summary>Of <see cref="BytesPerToken"/>, the keys and values one decode step reads on average (the rest is weights).</summary>
        public long KvBytesPerToken { get; init; }
    }

    // Qwen3-0.6B (../shared/data/configs/qwen3-0.6b.config.json), the shape of the issue's targets
    private const string Qwen3Small = """
        {"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "vocab_size": 151936, "hidden_size": 1024, "intermediate_size": 3072,
         "num_hidden_layers": 28, "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128, "rms_norm_eps": 1e-6,
         "rope_theta": 1000000, "max_position_embeddings": 40960, "tie_word_embeddings": true, "attention_bias": false,
         "hidden_act": "silu", "bos_token_id": 151643, "eos_token_id": 151645}
        """;

    /// <summary>Measures and prints the table; returns the exit code.</summary>
    public static int Run(Options o, TextWriter stdout)
    {
        // every format and lm_head is checked before the bandwidth measurement and the models (minutes of work)
        if (o.Formats.Count == 0) throw new UsageException("--formats: give at least one of i2, t1.6, fp16, bf16, fp32");
        if (o.LmHeads.Count == 0 && o.Formats.Any(f => FullPrecision(f) is null)) throw new UsageException("--lm-heads: give at least one of int8, fp16, fp32 for the packed formats");
        foreach (var f in o.Formats) _ = FullPrecision(f) is not null ? default : PackedExportInfo.ParsePacking(f) ?? throw new UsageException($"--formats: '{f}' is not i2, t1.6, fp16, bf16 or fp32");
        foreach (var h in o.LmHeads) _ = PackedExportInfo.ParseStorage(h) ?? throw new UsageException($"--lm-heads: '{h}' is not int8, fp16 or fp32");
        string load0 = LoadAverage.Read();
        var json = o.Config is null ? JsonNode.Parse(Qwen3Small)!.AsObject() : ReadConfig(o.Config);
        var config = QwenRuntimeConfig.Parse(json.ToJsonString(), o.Config ?? "qwen3-0.6b (built in)");
        // each cell's KV cache holds the depth and the longer of the two measurements (checked before anything is allocated)
        long positions = (long)o.Depth + Math.Max(o.Prompt, o.Generate + 1);
        if (positions > config.MaxPositionEmbeddings)
            throw new UsageException($"--depth {o.Depth} plus --prompt-tokens {o.Prompt} / --gen-tokens {o.Generate} needs {positions} positions; the model's max_position_embeddings is {config.MaxPositionEmbeddings}");
        string modelName = o.Config is null ? "qwen3-0.6b" : Path.GetFileNameWithoutExtension(Path.GetDirectoryName(Path.GetFullPath(o.Config)) ?? "model");
        string work = o.Work ?? Path.Combine(Path.GetTempPath(), $"bitdistill-bench-runtime-{Guid.NewGuid():N}");
        stdout.WriteLine($"SIMD {KernelContext.Current.Simd}, {Environment.ProcessorCount} logical cores, .NET {Environment.Version}; load average before: {load0}");
        if (o.Depth > 0) stdout.WriteLine($"every prefill and decode starts after {o.Depth} positions in the KV cache (--depth; llama-bench -d)");
        var peer = o.PeerBin is null ? null : new PeerRuns(o, modelName, stdout); // its paths checked before any measurement
        // the probe's buffer, allocated and touched once: each round measures the bandwidth right before and after every decode
        var probe = ReadBandwidth.CreateBuffer(ProbeMegabytes);
        foreach (int t in o.Threads)
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"streaming read bandwidth, {t} thread(s): {ReadBandwidth.Measure(probe, t, ProbePasses):F1} GB/s"));
        var rows = new List<Row>();
        try
        {
            // every model is loaded and warmed up first; then each round measures every (model, SIMD level, threads) once, and
            // llama.cpp's files once, so that the minutes-long swings of this shared machine's bandwidth hit all rows alike
            // (one row after the other, two runs of the same kernels once differed by half)
            var cells = new List<Cell>();
            foreach (var f in o.Formats.Where(f => FullPrecision(f) is not null))
            {
                string dir = Path.Combine(work, $"{modelName}-{f}");
                if (!File.Exists(Path.Combine(dir, "config.json"))) WriteRandomCheckpoint(dir, json, FullPrecision(f)!.Value, stdout);
                cells.AddRange(Prepare(dir, modelName, f, f, o));
            }
            foreach (var f in o.Formats.Where(f => FullPrecision(f) is null))
                foreach (var h in o.LmHeads)
                {
                    var packing = PackedExportInfo.ParsePacking(f)!.Value; // both checked at the start
                    var head = PackedExportInfo.ParseStorage(h)!.Value;
                    string dir = Path.Combine(work, $"{modelName}-{f}-{h}");
                    if (!File.Exists(Path.Combine(dir, "config.json"))) WriteRandomModel(dir, json, config, packing, head, stdout);
                    cells.AddRange(Prepare(dir, modelName, f, h, o));
                }
            for (int r = 0; r < o.Repeats; r++)
            {
                var sw = Stopwatch.StartNew();
                foreach (var cell in cells) cell.MeasureOnce(o, probe);
                peer?.RunOnce();
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  round {r + 1}/{o.Repeats}: {sw.Elapsed.TotalSeconds:F0} s"));
            }
            foreach (var cell in cells)
            {
                var row = cell.ToRow();
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {row.Format} lm_head {row.LmHead}, {row.Threads} thread(s), {row.Simd}, kv {row.KvCache}: prefill {row.PrefillTokensPerSecond:F1} tok/s, decode {row.DecodeTokensPerSecond:F1} tok/s"));
                rows.Add(row);
            }
            if (peer is not null) rows.AddRange(peer.Rows());
            foreach (int t in o.Threads)
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"streaming read bandwidth, {t} thread(s), after the rows: {ReadBandwidth.Measure(probe, t, ProbePasses):F1} GB/s"));
        }
        finally { if (o.Work is null && Directory.Exists(work)) Directory.Delete(work, recursive: true); }
        string load1 = LoadAverage.Read();
        Print(rows, stdout);
        stdout.WriteLine($"load average before: {load0}; after: {load1}");
        if (o.Json is not null) WriteJson(o.Json, rows, load0, load1, o.Depth);
        return 0;
    }

    private const string Fp16 = "fp16";

    // the bandwidth probe around each decode: 256 MB (8 times this machine's L3), best of 3 passes, about 0.1 s
    private const int ProbeMegabytes = 256, ProbePasses = 3;

    // the full-precision formats and the checkpoint type of each
    private static DType? FullPrecision(string format) => format switch { Fp16 => DType.Float16, "bf16" => DType.BFloat16, "fp32" => DType.Float32, _ => null };

    // A full-precision baseline of the same shape: random weights (the model's own initialisation), saved as a Hugging Face
    // checkpoint of that type, which the runtime keeps as stored (FP16 and BF16 at 16 bits).
    private static void WriteRandomCheckpoint(string dir, JsonObject json, DType dtype, TextWriter stdout)
    {
        var sw = Stopwatch.StartNew();
        var model = new QwenModel(QwenConfig.Parse(json.ToJsonString()), new Generator(20261203));
        model.SavePretrained(dir, dtype);
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"wrote {dir} ({sw.Elapsed.TotalSeconds:F0} s)"));
    }

    // A packed model of the config's shape with random ternary codes (about a third zeros), per-tensor scales, paper SubLN,
    // random embeddings (the lm_head's storage when tied: one table, as llama.cpp's files): written once, as `export` writes, so the loader's checks run on it.
    // --config: a JSON object, or a one-line error naming the file (a stray file gave the parser's bare message)
    private static JsonObject ReadConfig(string path)
    {
        JsonNode? node;
        try { node = JsonNode.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new UsageException($"--config '{path}' is not valid JSON: {e.Message}"); }
        return node as JsonObject ?? throw new UsageException($"--config '{path}' holds no JSON object (expected a config.json)");
    }

    private static void WriteRandomModel(string dir, JsonObject json, QwenRuntimeConfig c, TernaryPacking packing, TableStorage head, TextWriter stdout)
    {
        var sw = Stopwatch.StartNew();
        // a tied model keeps one table (as llama.cpp's GGUF does): the embeddings take the lm_head's storage
        var info = new PackedExportInfo { Packing = packing, Embeddings = c.TieWordEmbeddings ? head : TableStorage.Float16, LmHead = head, PerRowScales = false, SubLn = "paper", SubLnEps = 1e-6 };
        var writer = new PackedModelWriter(info);
        ulong state = 0x9E3779B97F4A7C15UL;
        ulong Next() { state ^= state << 13; state ^= state >> 7; state ^= state << 17; return state; }
        float Normal(float sd) => (float)((Next() % 1_000_000 / 1e6 + Next() % 1_000_000 / 1e6 + Next() % 1_000_000 / 1e6 - 1.5) * 2 * sd);
        float[] Ones(int n) => Enumerable.Repeat(1f, n).ToArray();
        int e = c.HiddenSize, q = c.NumAttentionHeads * c.HeadDim, kv = c.NumKeyValueHeads * c.HeadDim, inter = c.IntermediateSize;
        void Ternary(string name, int n, int k)
        {
            var codes = new sbyte[(long)n * k];
            for (long i = 0; i < codes.Length; i++) codes[i] = (sbyte)((int)(Next() % 3) - 1);
            writer.AddTernary(name, PackedTernaryMatrix.FromCodes(codes, n, k, TernaryScaleMode.PerTensor, [0.02f]));
        }
        for (int l = 0; l < c.NumHiddenLayers; l++)
        {
            string p = $"model.layers.{l.ToString(CultureInfo.InvariantCulture)}.";
            writer.AddFloat(p + "input_layernorm.weight", Ones(e), [e]);
            writer.AddFloat(p + "post_attention_layernorm.weight", Ones(e), [e]);
            Ternary(p + "self_attn.q_proj", q, e); Ternary(p + "self_attn.k_proj", kv, e); Ternary(p + "self_attn.v_proj", kv, e);
            Ternary(p + "self_attn.o_proj", e, q);
            if (c.QkNorm) { writer.AddFloat(p + "self_attn.q_norm.weight", Ones(c.HeadDim), [c.HeadDim]); writer.AddFloat(p + "self_attn.k_norm.weight", Ones(c.HeadDim), [c.HeadDim]); }
            writer.AddFloat(p + "self_attn.attn_sub_norm.weight", Ones(q), [q]);
            writer.AddFloat(p + "mlp.ffn_sub_norm.weight", Ones(inter), [inter]);
            Ternary(p + "mlp.gate_proj", inter, e); Ternary(p + "mlp.up_proj", inter, e); Ternary(p + "mlp.down_proj", e, inter);
        }
        writer.AddFloat("model.norm.weight", Ones(e), [e]);
        var table = new float[(long)c.VocabSize * e];
        for (long i = 0; i < table.Length; i++) table[i] = Normal(0.02f);
        writer.AddTable("model.embed_tokens.weight", table, c.VocabSize, e, info.Embeddings);
        if (!info.SharesTable(c.TieWordEmbeddings)) writer.AddTable("lm_head.weight", table, c.VocabSize, e, head);
        writer.Write(dir, json);
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"wrote {dir} ({sw.Elapsed.TotalSeconds:F0} s)"));
    }

    // One model loaded, and per SIMD level and thread count a warmed-up session to measure in the rounds.
    private static IEnumerable<Cell> Prepare(string dir, string modelName, string format, string lmHead, Options o)
    {
        var (resident, peak) = o.MeasureResident ? ResidentOfLoad(dir) : (0L, 0L);
        var model = RuntimeModel.Load(dir);
        long file = new FileInfo(Path.Combine(dir, PackedExportInfo.FileName)).Length;
        var cells = new List<Cell>();
        foreach (var level in o.SimdLevels)
            foreach (int t in o.Threads)
                foreach (var kv in o.KvCaches)
                    cells.Add(new Cell(model, modelName, format, lmHead, level, t, kv, file, resident, peak, o));
        return cells;
    }

    // One (model, SIMD level, threads) of the table: its session, warmed up once, and one prefill and one decode timing per round.
    private sealed class Cell
    {
        private readonly RuntimeModel _model;
        private readonly InferenceSession _session;
        private readonly int[] _prompt;
        private readonly string _modelName, _format, _lmHead, _kvCache;
        private readonly long _file, _resident, _peak;
        private readonly int _depth, _generate;
        private readonly List<double> _prefill = [], _decode = [], _bandwidth = [];

        public Cell(RuntimeModel model, string modelName, string format, string lmHead, SimdLevel level, int threads, string kvCache, long file, long resident, long peak, Options o)
        {
            _model = model; _modelName = modelName; _format = format; _lmHead = lmHead; Level = level; Threads = threads; _kvCache = kvCache;
            _depth = o.Depth; _generate = o.Generate;
            _file = file; _resident = resident; _peak = peak;
            var c = model.Config;
            _prompt = new int[o.Prompt];
            for (int i = 0; i < _prompt.Length; i++) _prompt[i] = (i * 7919 + 13) % c.VocabSize;
            using var scope = KernelContext.Override(level, threads);
            _session = model.CreateSession(o.Depth + Math.Max(o.Prompt, o.Generate + 1) + 21, kvCache: GenerateCommand.KvCacheType(kvCache)); // room for the warm-up too
            _session.Append(_prompt.AsSpan(0, Math.Min(16, _prompt.Length))); // warm-up: JIT, thread team, page-ins
            for (int i = 0; i < 4; i++) _session.Decode(_prompt[i % _prompt.Length]); // a prompt may be one token
            // the context every measurement starts from (llama-bench -d), filled once and kept: each measurement truncates back to it
            _session.Reset();
            if (o.Depth > 0)
            {
                var context = new int[o.Depth];
                for (int i = 0; i < context.Length; i++) context[i] = (i * 104729 + 7) % c.VocabSize;
                _session.Append(context);
            }
            // untimed rounds (at least one, and at least a second's worth), so tiered JIT has optimised both paths
            var warm = Stopwatch.StartNew();
            for (int r = 0; r < 1000 && (r == 0 || warm.Elapsed.TotalSeconds < 1); r++) Once(o);
        }

        public SimdLevel Level { get; }
        public int Threads { get; }

        // One prefill and one decode timing; the read bandwidth at this cell's thread count is measured right before and right
        // after the decode, and the higher of the two is this round's bandwidth (the memory delivered that much then): the
        // bandwidth of this shared machine drifts by half within minutes, so a bound measured once for the run made a row's
        // share of it swing from one run to the next with the same speed (73 % and 87 % an hour apart).
        public void MeasureOnce(Options o, long[] probe)
        {
            using var scope = KernelContext.Override(Level, Threads);
            _prefill.Add(Prefill(o));
            double before = ReadBandwidth.Measure(probe, Threads, ProbePasses);
            _decode.Add(Decode(o));
            _bandwidth.Add(Math.Max(before, ReadBandwidth.Measure(probe, Threads, ProbePasses)));
        }

        private void Once(Options o) { Prefill(o); Decode(o); }

        private double Prefill(Options o)
        {
            _session.Truncate(o.Depth);
            long t0 = Stopwatch.GetTimestamp();
            _session.Append(_prompt);
            return o.Prompt / Stopwatch.GetElapsedTime(t0).TotalSeconds;
        }

        private double Decode(Options o)
        {
            _session.Truncate(o.Depth);
            _session.Append(_prompt.AsSpan(0, 1));
            long t0 = Stopwatch.GetTimestamp();
            for (int i = 0; i < o.Generate; i++) _session.Decode(_prompt[(i + 1) % _prompt.Length]);
            return o.Generate / Stopwatch.GetElapsedTime(t0).TotalSeconds;
        }

        // the bound and the share are medians over the rounds of each round's own (its decode against its bandwidth)
        public Row ToRow()
        {
            // the weights, and the keys and values a decode step reads: step i (of the measured ones) attends over depth + 2 + i
            // positions, so on average depth + 2 + (generate − 1) / 2
            var c = _model.Config;
            double positions = _depth + 2 + (_generate - 1) / 2.0;
            long kvPerToken = (long)(2.0 * c.NumHiddenLayers * c.NumKeyValueHeads * c.HeadDim * _session.KvCacheType.SizeOf() * positions);
            long perToken = _model.DecodeBytesPerToken + kvPerToken;
            var bounds = _bandwidth.Select(b => b * 1e9 / perToken).ToList();
            var shares = _decode.Zip(bounds, (d, b) => d / b).ToList();
            return new Row(_modelName, _format, _lmHead, Threads, Median(_decode), Median(_prefill), perToken, Median(bounds), _file, _resident, "bitdistill")
            { PeakResidentBytes = _peak, Simd = Level.ToString(), ShareOfBound = Median(shares), BandwidthPerRound = [.. _bandwidth], KvCache = _kvCache, KvCacheBytes = _session.KvCacheBytes, KvBytesPerToken = kvPerToken };
        }
    }

    // llama-bench on the peer's files (see ../shared/peers/llamacpp/README.md), same prompt and generation lengths and threads,
    // one repetition per round (its own average of one), the median over the rounds as for our rows.
    private sealed class PeerRuns
    {
        private static readonly (string Type, string Format, string Head)[] Files =
            [("TQ2_0", "TQ2_0", "q6_K"), ("TQ1_0", "TQ1_0", "q6_K"), ("TQ2_0-lmTQ2_0", "TQ2_0", "tq2_0"), ("TQ1_0-lmTQ1_0", "TQ1_0", "tq1_0"), ("f16", "F16", "f16")];
        private readonly Options _o;
        private readonly string _modelName, _bench;
        private readonly TextWriter _stdout;
        private readonly List<(string Type, string Format, string Head, string File)> _files = [];
        private readonly Dictionary<(string Type, int Threads), (List<double> Pp, List<double> Tg, long Size)> _runs = [];

        public PeerRuns(Options o, string modelName, TextWriter stdout)
        {
            _o = o; _modelName = modelName; _stdout = stdout;
            _bench = Path.Combine(o.PeerBin!, "llama-bench");
            if (!File.Exists(_bench)) throw new UsageException($"--peer-bin: '{_bench}' does not exist; build llama.cpp with ../shared/peers/llamacpp/build.sh");
            string models = o.PeerModels ?? throw new UsageException("--peer-models is required with --peer-bin (the folder run_peer.sh writes its GGUF files to)");
            foreach (var (type, format, head) in Files)
            {
                string file = Path.Combine(models, $"qwen3-0.6b-rand-{type}.gguf");
                if (File.Exists(file)) _files.Add((type, format, head, file));
                else stdout.WriteLine($"  (no {file}: skipped)");
            }
        }

        public void RunOnce()
        {
            foreach (var (type, _, _, file) in _files)
            {
                var psi = new ProcessStartInfo(_bench) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
                foreach (var arg in new[] { "-m", file, "-t", string.Join(",", _o.Threads), "-p", _o.Prompt.ToString(CultureInfo.InvariantCulture),
                    "-n", _o.Generate.ToString(CultureInfo.InvariantCulture), "-r", "1", "-o", "csv" })
                    psi.ArgumentList.Add(arg);
                if (_o.Depth > 0) { psi.ArgumentList.Add("-d"); psi.ArgumentList.Add(_o.Depth.ToString(CultureInfo.InvariantCulture)); }
                using var p = Process.Start(psi)!;
                var errTask = p.StandardError.ReadToEndAsync();
                string csv = p.StandardOutput.ReadToEnd();
                p.WaitForExit();
                if (p.ExitCode != 0) throw new InvalidOperationException($"llama-bench on {file} exited with {p.ExitCode}: {errTask.Result.Split('\n').LastOrDefault(l => l.Length > 0)}");
                var lines = csv.Split('\n', StringSplitOptions.RemoveEmptyEntries);
                var header = SplitCsv(lines[0]);
                int Col(string name) => Array.IndexOf(header, name) is int i and >= 0 ? i : throw new InvalidOperationException($"llama-bench's CSV has no column '{name}'");
                foreach (var line in lines.Skip(1))
                {
                    var f = SplitCsv(line);
                    int threads = int.Parse(f[Col("n_threads")], CultureInfo.InvariantCulture);
                    double ts = double.Parse(f[Col("avg_ts")], CultureInfo.InvariantCulture);
                    long size = long.Parse(f[Col("model_size")], CultureInfo.InvariantCulture);
                    if (!_runs.TryGetValue((type, threads), out var run)) _runs[(type, threads)] = run = ([], [], size);
                    (int.Parse(f[Col("n_gen")], CultureInfo.InvariantCulture) == 0 ? run.Pp : run.Tg).Add(ts);
                }
            }
        }

        public IEnumerable<Row> Rows()
        {
            foreach (var (type, format, head, _) in _files)
                foreach (var ((t, threads), run) in _runs.Where(kv => kv.Key.Type == type).OrderBy(kv => kv.Key.Threads))
                {
                    double pp = run.Pp.Count > 0 ? Median(run.Pp) : 0, tg = run.Tg.Count > 0 ? Median(run.Tg) : 0;
                    _stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  llama.cpp {t}, {threads} thread(s): prefill {pp:F1} tok/s, decode {tg:F1} tok/s"));
                    yield return new Row(_modelName, format, head, threads, tg, pp, 0, 0, run.Size, 0, "llama.cpp");
                }
        }
    }

    private static void Print(List<Row> rows, TextWriter stdout)
    {
        stdout.WriteLine();
        stdout.WriteLine("| engine | model | format | lm_head | threads | simd | kv cache | prefill tok/s | decode tok/s | MB read / token | bound tok/s | % of bound | file MB | resident MB | peak MB | decode vs llama.cpp | prefill vs llama.cpp |");
        stdout.WriteLine("|---|---|---|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in rows)
        {
            // the peer row of the matching packing with llama.cpp's default output layer (q6_K)
            var (peerFormat, peerHead) = r.Format switch { "i2" => ("TQ2_0", "q6_K"), "t1.6" => ("TQ1_0", "q6_K"), Fp16 => ("F16", "f16"), _ => ("", "") };
            var peer = r.Engine == "bitdistill" ? rows.FirstOrDefault(p => p.Engine == "llama.cpp" && p.Format == peerFormat && p.LmHead == peerHead && p.Threads == r.Threads) : null;
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {r.Engine} | {r.Model} | {r.Format} | {r.LmHead} | {r.Threads} | {r.Simd} | {r.KvCache} | {r.PrefillTokensPerSecond:F1} | {r.DecodeTokensPerSecond:F1} | "
                + $"{(r.BytesPerToken > 0 ? (r.BytesPerToken / 1048576.0).ToString("F1", CultureInfo.InvariantCulture) : "")} | "
                + $"{(r.BoundTokensPerSecond > 0 ? r.BoundTokensPerSecond.ToString("F1", CultureInfo.InvariantCulture) : "")} | "
                + $"{(r.ShareOfBound > 0 ? (100 * r.ShareOfBound).ToString("F0", CultureInfo.InvariantCulture) + "%" : "")} | "
                + $"{r.WeightsBytes / 1048576.0:F1} | {(r.ResidentBytes > 0 ? (r.ResidentBytes / 1048576.0).ToString("F1", CultureInfo.InvariantCulture) : "")} | "
                + $"{(r.PeakResidentBytes > 0 ? (r.PeakResidentBytes / 1048576.0).ToString("F1", CultureInfo.InvariantCulture) : "")} | "
                + $"{(peer is null ? "" : (r.DecodeTokensPerSecond / peer.DecodeTokensPerSecond).ToString("F2", CultureInfo.InvariantCulture) + "×")} | "
                + $"{(peer is null ? "" : (r.PrefillTokensPerSecond / peer.PrefillTokensPerSecond).ToString("F2", CultureInfo.InvariantCulture) + "×")} |"));
        }
        stdout.WriteLine("(medians of the rounds; a round's bound = the read bandwidth at that thread count, the higher of the probes right before and after its decode, / bytes read per decoded token (weights, and keys and values at the mean decoded position); % of bound = median of the rounds' decode / bound; llama.cpp rows: llama-bench avg, its default output layer is q6_K, its default KV cache f16)");
        // the paper's comparison: packed ternary against the same shape at FP16, both on our runtime
        foreach (var fp in rows.Where(r => r.Engine == "bitdistill" && r.Format == Fp16))
            foreach (var t in rows.Where(r => r.Engine == "bitdistill" && FullPrecision(r.Format) is null && r.Threads == fp.Threads && r.Simd == fp.Simd && r.KvCache == fp.KvCache))
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{t.Format} (lm_head {t.LmHead}) over fp16, {t.Threads} thread(s), kv cache {t.KvCache}: decode {t.DecodeTokensPerSecond / fp.DecodeTokensPerSecond:F2}×, prefill {t.PrefillTokensPerSecond / fp.PrefillTokensPerSecond:F2}×, bytes per token {(double)fp.BytesPerToken / t.BytesPerToken:F2}× fewer"));
    }

    private static void WriteJson(string path, List<Row> rows, string load0, string load1, int depth)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartArray();
            foreach (var r in rows)
            {
                w.WriteStartObject();
                w.WriteString("engine", r.Engine); w.WriteString("model", r.Model); w.WriteString("format", r.Format); w.WriteString("lm_head", r.LmHead);
                w.WriteNumber("threads", r.Threads); w.WriteString("simd", r.Simd);
                w.WriteString("kv_cache", r.KvCache); w.WriteNumber("kv_cache_bytes", r.KvCacheBytes); w.WriteNumber("depth", depth);
                w.WriteNumber("kv_bytes_per_token", r.KvBytesPerToken);
                w.WriteNumber("decode_tokens_per_s", Finite(r.DecodeTokensPerSecond)); w.WriteNumber("prefill_tokens_per_s", Finite(r.PrefillTokensPerSecond));
                w.WriteNumber("bytes_per_token", r.BytesPerToken); w.WriteNumber("bound_tokens_per_s", Finite(r.BoundTokensPerSecond));
                w.WriteNumber("share_of_bound", Finite(r.ShareOfBound));
                w.WriteStartArray("read_bandwidth_gb_per_s");
                foreach (var b in r.BandwidthPerRound) w.WriteNumberValue(Finite(b));
                w.WriteEndArray();
                w.WriteNumber("weights_bytes", r.WeightsBytes); w.WriteNumber("resident_bytes", r.ResidentBytes); w.WriteNumber("peak_resident_bytes", r.PeakResidentBytes);
                w.WriteString("load_average_before", load0); w.WriteString("load_average_after", load1);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        AtomicFile.WriteAllBytes(path, ms.ToArray());
    }

    private static double Finite(double v) => double.IsFinite(v) ? v : 0;

    private static double Median(List<double> v)
    {
        var s = v.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }

    private static string[] SplitCsv(string line)
    {
        var fields = new List<string>();
        var cur = new System.Text.StringBuilder();
        bool quoted = false;
        for (int i = 0; i < line.Length; i++)
        {
            char ch = line[i];
            if (quoted)
            {
                if (ch == '"' && i + 1 < line.Length && line[i + 1] == '"') { cur.Append('"'); i++; }
                else if (ch == '"') quoted = false;
                else cur.Append(ch);
            }
            else if (ch == '"') quoted = true;
            else if (ch == ',') { fields.Add(cur.ToString()); cur.Clear(); }
            else if (ch != '\r') cur.Append(ch);
        }
        fields.Add(cur.ToString());
        return [.. fields];
    }


    /// <summary>`bench runtime --resident-of DIR`, run in a fresh process: loads the model and prints its resident memory (VmRSS after
    /// loading minus before) and peak (VmHWM minus the VmRSS before), so no earlier allocation of the bench distorts them.</summary>
    public static int PrintResidentOfLoad(string dir, TextWriter stdout)
    {
        GC.Collect();
        long before = Status("VmRSS:");
        var model = RuntimeModel.Load(dir);
        GC.Collect();
        long after = Status("VmRSS:"), peak = Status("VmHWM:");
        GC.KeepAlive(model);
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"resident_bytes={after - before} peak_bytes={peak - before}"));
        return 0;
    }

    private static (long Resident, long Peak) ResidentOfLoad(string dir)
    {
        if (!File.Exists("/proc/self/status") || Environment.ProcessPath is not { } exe) return (0, 0);
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        // run as `dotnet bitdistill.dll`: the entry assembly comes first
        if (Path.GetFileNameWithoutExtension(exe) == "dotnet" && System.Reflection.Assembly.GetEntryAssembly()?.Location is { Length: > 0 } dll) psi.ArgumentList.Add(dll);
        foreach (var a in new[] { "bench", "runtime", "--resident-of", dir }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        string text = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"measuring the resident memory of {dir} failed: {err.Result.Trim()}");
        long Field(string key) => long.Parse(text.Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries).First(f => f.StartsWith(key, StringComparison.Ordinal))[key.Length..], CultureInfo.InvariantCulture);
        return (Field("resident_bytes="), Field("peak_bytes="));
    }

    // a field of /proc/self/status in bytes (Linux); 0 elsewhere
    private static long Status(string key)
    {
        if (!File.Exists("/proc/self/status")) return 0;
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith(key, StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
        return 0;
    }
}
