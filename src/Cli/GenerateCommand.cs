using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using BitDistill.Models;
using BitDistill.Models.Generation;
using BitDistill.Models.Tokenization;
using BitDistill.Runtime;
using BitDistill.Tensors;

namespace BitDistill.Cli;

/// <summary>The `generate` verb: text generation with a KV cache, streamed to stdout, or one JSON object for scripts.</summary>
public static class GenerateCommand
{
    /// <summary>The parsed command line of `generate`.</summary>
    public sealed record Args
    {
        /// <summary>Hugging Face model folder.</summary>
        public required string Model { get; init; }
        /// <summary>Text prompt (needs a tokenizer).</summary>
        public string? Prompt { get; init; }
        /// <summary>Comma-separated prompt token ids.</summary>
        public string? PromptIds { get; init; }
        /// <summary>tokenizer.json or its folder; null = the model folder.</summary>
        public string? Tokenizer { get; init; }
        /// <summary>Most new tokens (null: generation_config.json's max_new_tokens, else 64).</summary>
        public int? MaxNewTokens { get; init; }
        /// <summary>Argmax decoding.</summary>
        public bool Greedy { get; init; }
        /// <summary>Sample even when generation_config.json says do_sample false.</summary>
        public bool DoSample { get; init; }
        /// <summary>Softmax temperature (null: generation_config.json's, else 1).</summary>
        public float? Temperature { get; init; }
        /// <summary>Top-k, 0 = off (null: generation_config.json's, else 0).</summary>
        public int? TopK { get; init; }
        /// <summary>Top-p, 1 = off (null: generation_config.json's, else 1).</summary>
        public float? TopP { get; init; }
        /// <summary>Repetition penalty, 1 = off (null: generation_config.json's, else 1).</summary>
        public float? RepetitionPenalty { get; init; }
        /// <summary>Sampling seed.</summary>
        public ulong Seed { get; init; }
        /// <summary>Print one JSON object instead of streaming text.</summary>
        public bool Json { get; init; }
        /// <summary>A text file of prompts, one per line (batched generation on the runtime).</summary>
        public string? PromptsFile { get; init; }
        /// <summary>Prompts decoded together with --prompts-file.</summary>
        public int BatchSize { get; init; } = 8;
        /// <summary>KV cache of the inference runtime: "fp32" or "fp16".</summary>
        public string KvCache { get; init; } = "fp32";
        /// <summary>Print the stack trace of an error.</summary>
        public bool Verbose { get; init; }
    }

    private const string JsonHelp =
        "print one JSON object and nothing else on stdout: {\"prompt_ids\": [int...], \"generated_ids\": [int...] (the stop token included "
        + "if one ended generation), \"top5\": {\"ids\": [5 ints], \"logits\": [5 floats]} (the 5 largest raw logits at the last prompt "
        + "position, largest first, ties by lower id), \"stop_reason\": \"stop_token\"|\"max_new_tokens\", and \"text\": the decoded new tokens "
        + "(only when a tokenizer is loaded)}";

    /// <summary>`bitdistill generate --model DIR (--prompt TEXT | --prompt-ids IDS) [options]`.</summary>
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Hugging Face model folder (config.json + safetensors)", Required = true };
        var prompt = new Option<string>("--prompt") { Description = "prompt text (needs a tokenizer); special-token text such as <|im_start|> in it becomes the special id, as in Hugging Face's chat templates, and no BOS/EOS is added" };
        var promptIds = new Option<string>("--prompt-ids") { Description = "prompt as comma-separated token ids, e.g. 785,3974,13876 (no tokenizer needed)" };
        var tokenizer = new Option<string>("--tokenizer") { Description = "tokenizer.json or a folder holding one (default: the model folder)" };
        var maxNew = new Option<int?>("--max-new-tokens") { Description = "most tokens to generate (default: the model's generation_config.json, else 64)" };
        var greedy = new Option<bool>("--greedy") { Description = "take the most likely token at each step (ignores temperature, top-k, top-p)" };
        var doSample = new Option<bool>("--do-sample") { Description = "sample even when the model's generation_config.json says do_sample false (greedy); without that file, sampling is the default" };
        var temperature = new Option<float?>("--temperature") { Description = "softmax temperature (> 0; default: generation_config.json's, else 1)" };
        var topK = new Option<int?>("--top-k") { Description = "sample from the k most likely tokens (0 = off; default: generation_config.json's, else 0)" };
        var topP = new Option<float?>("--top-p") { Description = "nucleus sampling: smallest set of tokens with probability ≥ p (1 = off; default: generation_config.json's, else 1)" };
        var penalty = new Option<float?>("--repetition-penalty") { Description = "Hugging Face repetition penalty on seen tokens (1 = off; default: generation_config.json's, else 1)" };
        var seed = new Option<ulong>("--seed") { Description = "seed of the sampler", DefaultValueFactory = _ => 0UL };
        var json = new Option<bool>("--json") { Description = JsonHelp };
        var promptsFile = new Option<string>("--prompts-file") { Description = "a text file of prompts, one per line (blank lines skipped), generated in batches on the inference runtime (exported or full-precision models); each result equals generating that prompt alone. With --json, one object per prompt and line" };
        var batchSize = new Option<int>("--batch-size") { Description = "prompts of --prompts-file decoded together (one batched forward pass per token)", DefaultValueFactory = _ => 8 };
        var kvCache = new Option<string>("--kv-cache") { Description = "KV cache of the inference runtime: fp32 (the training model's answers) or fp16 (half the memory, keys and values rounded to halves, as llama.cpp's default)", DefaultValueFactory = _ => "fp32" };
        var cmd = new Command("generate", "Generate text with a KV cache (prefill the prompt, then one token per step), streaming it to stdout; "
            + "stops at the config's eos_token_id(s), generation_config.json's or the tokenizer's EOS token. Decoding defaults come from the model's "
            + "generation_config.json when it has one (the folders bitdistill writes are greedy); flags override them. With --json, prints one JSON object for scripts.");
        foreach (var o in new Option[] { model, prompt, promptIds, tokenizer, maxNew, greedy, doSample, temperature, topK, topP, penalty, seed, json, promptsFile, batchSize, kvCache }) cmd.Options.Add(o);
        cmd.SetAction(parse =>
        {
            using var threads = ErrorPolicy.ThreadScope(parse);
            return Run(new Args
        {
            Model = parse.GetValue(model)!, Prompt = parse.GetValue(prompt), PromptIds = parse.GetValue(promptIds), Tokenizer = parse.GetValue(tokenizer),
            MaxNewTokens = parse.GetValue(maxNew), Greedy = parse.GetValue(greedy), DoSample = parse.GetValue(doSample), Temperature = parse.GetValue(temperature), TopK = parse.GetValue(topK),
            TopP = parse.GetValue(topP), RepetitionPenalty = parse.GetValue(penalty), Seed = parse.GetValue(seed), Json = parse.GetValue(json),
            PromptsFile = parse.GetValue(promptsFile), BatchSize = parse.GetValue(batchSize), KvCache = parse.GetValue(kvCache)!, Verbose = parse.GetValue(ErrorPolicy.Verbose),
        }, Console.Out, Console.Error);
        });
        return cmd;
    }

    /// <summary>Runs the verb under <see cref="ErrorPolicy"/>; returns the exit code (0; 2 for bad input, 1 for a failure, after one line on <paramref name="stderr"/>).</summary>
    public static int Run(Args a, TextWriter stdout, TextWriter stderr) =>
        ErrorPolicy.Run("generate", () => Generate(a, stdout, stderr), stdout, stderr, a.Verbose);

    static int Generate(Args a, TextWriter stdout, TextWriter stderr)
    {
        if ((a.Prompt is null ? 0 : 1) + (a.PromptIds is null ? 0 : 1) + (a.PromptsFile is null ? 0 : 1) != 1)
            throw new UsageException("give exactly one of --prompt TEXT and --prompt-ids IDS (or --prompts-file FILE)");
        if (a.BatchSize < 1) throw new UsageException($"--batch-size must be ≥ 1, got {a.BatchSize}");
        if (a.MaxNewTokens < 0) throw new UsageException($"--max-new-tokens must be ≥ 0, got {a.MaxNewTokens}");
        if (a.Temperature is float t && !(t > 0)) throw new UsageException($"--temperature must be > 0, got {t.ToString(CultureInfo.InvariantCulture)}");
        if (a.TopK < 0) throw new UsageException($"--top-k must be ≥ 0, got {a.TopK}");
        if (a.TopP is float tp && !(tp > 0 && tp <= 1)) throw new UsageException($"--top-p must be in (0, 1], got {tp.ToString(CultureInfo.InvariantCulture)}");
        if (a.RepetitionPenalty is float rp && !(rp > 0)) throw new UsageException($"--repetition-penalty must be > 0, got {rp.ToString(CultureInfo.InvariantCulture)}");
        if (a.Greedy && a.DoSample) throw new UsageException("give at most one of --greedy and --do-sample");
        var kv = KvCacheType(a.KvCache);
        if (!Directory.Exists(a.Model)) throw new UsageException($"model folder '{a.Model}' does not exist");
        string configPath = Path.Combine(a.Model, "config.json");
        var config = ModelRegistry.LoadConfig(configPath);
        if (ModelRegistry.IsSequenceClassifier(config))
            throw new UsageException($"{a.Model} is a sequence classifier (a score head, config.json architectures *ForSequenceClassification): it answers labels, not text; use classify");
        // Defaults from generation_config.json as Hugging Face's generate() takes them; the flags override.
        var defaults = GenerationConfig.Load(a.Model);
        int maxNewTokens = a.MaxNewTokens ?? defaults?.MaxNewTokens ?? 64;
        bool greedy = a.Greedy || (!a.DoSample && defaults is { DoSample: false });
        if (greedy && !a.Greedy && (a.Temperature ?? a.TopP ?? (float?)a.TopK) is not null)
            stderr.WriteLine($"note: {Path.Combine(a.Model, GenerationConfig.FileName)} sets do_sample false, so decoding is greedy and --temperature/--top-k/--top-p do nothing; add --do-sample to sample");

        // The tokenizer: needed for a text prompt and for streamed text; with --prompt-ids --json only when asked for.
        TextTokenizer? tokenizer = null;
        if (a.Prompt is not null || a.PromptsFile is not null || !a.Json || a.Tokenizer is not null)
        {
            string path = a.Tokenizer ?? a.Model;
            try { tokenizer = TextTokenizer.Load(path); }
            catch (FileNotFoundException e) { throw new UsageException($"{e.Message}; give the tokenizer with --tokenizer PATH"); }
            TokenizerPairing.Check(tokenizer, config);
        }
        var sampling = new SamplingOptions
        {
            Greedy = greedy, Temperature = a.Temperature ?? defaults?.Temperature ?? 1f, TopK = a.TopK ?? (defaults is null ? 0 : defaults.TopK),
            TopP = a.TopP ?? defaults?.TopP ?? 1f, RepetitionPenalty = a.RepetitionPenalty ?? defaults?.RepetitionPenalty ?? 1f, Seed = a.Seed,
        };
        var extraStops = defaults?.EosTokenIds ?? [];
        if (a.PromptsFile is not null) return GenerateFile(a, config, configPath, tokenizer!, maxNewTokens, sampling, extraStops, kv, stdout, stderr);
        int[] ids = a.PromptIds is not null ? ParseIds(a.PromptIds, config, configPath) : tokenizer!.Encode(a.Prompt!);
        if (ids.Length == 0) throw new UsageException("the prompt encodes to no tokens");
        if (ids.FirstOrDefault(id => id >= config.VocabSize, -1) is int bad and >= 0)
            throw new UsageException($"the tokenizer {tokenizer!.Source} gives id {bad} for the prompt, outside the model's vocabulary (vocab_size {config.VocabSize} in {configPath}); do the tokenizer and the model belong together?");

        if ((long)ids.Length + maxNewTokens > config.MaxPositionEmbeddings)
            throw new UsageException($"the prompt ({ids.Length} tokens) plus --max-new-tokens {maxNewTokens} exceeds the model's max_position_embeddings {config.MaxPositionEmbeddings} ({configPath})");
        bool stream = !a.Json;
        if (stream) TrySetUtf8();
        Action<string> write = piece => { if (piece.Length > 0) { stdout.Write(piece); stdout.Flush(); } };
        // Full-precision and exported ternary models run on the inference runtime (no autograd graph, nothing allocated per
        // token); ternary training (quantisation-aware) checkpoints, which the runtime does not load, on the training library's model.
        GenerationResult r;
        // The runtime runs Qwen and Gemma 3 text models: a multimodal Gemma 3 ("gemma3") generates on the training library's model too.
        if (config.Has(BitDistill.Models.BitNet.BitNetConfig.Field) || config.ModelType is not ("qwen3" or "qwen2" or "gemma3_text"))
        {
            if (kv != DType.Float32)
                throw new UsageException($"--kv-cache {a.KvCache} is an option of the inference runtime, which does not run {(config.Has(BitDistill.Models.BitNet.BitNetConfig.Field) ? "ternary training checkpoints (export the model with `bitdistill export` first)" : $"model_type '{config.ModelType}'")} ({configPath})");
            var generator = new TextGenerator(ModelRegistry.FromPretrained(a.Model), tokenizer);
            r = generator.Generate(ids, new GenerationOptions
            {
                MaxNewTokens = maxNewTokens, Sampling = sampling, StopTokenIds = generator.DefaultStopTokenIds.Concat(extraStops).ToHashSet(),
                OnToken = stream ? t => write(t.Text) : null,
            });
        }
        else r = GenerateOnRuntime(a.Model, config, tokenizer, ids, maxNewTokens, sampling, stream ? write : null, extraStops, kv);
        if (stream)
        {
            stdout.WriteLine();
            stdout.Flush();
            stderr.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"[{ids.Length} prompt tokens, {r.GeneratedIds.Length} new ({(r.StopReason == StopReason.StopToken ? "stop token" : "max new tokens")}); "
                + $"prefill {r.PrefillTime.TotalMilliseconds:F0} ms, decode {r.DecodeTokensPerSecond:F1} tokens/s]"));
            return 0;
        }
        WriteJson(stdout, r, tokenizer is not null);
        return 0;
    }

    /// <summary>The element type of a --kv-cache value ("fp32", "fp16"), or a usage error naming the option.</summary>
    internal static DType KvCacheType(string value) => value switch
    {
        "fp32" => DType.Float32,
        "fp16" => DType.Float16,
        _ => throw new UsageException($"--kv-cache: '{value}' is not fp32 or fp16"),
    };

    // --prompts-file: every line a prompt, generated in batches of --batch-size on the runtime; each result as --prompt gives it.
    static int GenerateFile(Args a, IModelConfig config, string configPath, TextTokenizer tokenizer, int maxNewTokens, SamplingOptions sampling,
        IReadOnlyList<int> extraStops, DType kv, TextWriter stdout, TextWriter stderr)
    {
        if (config.Has(BitDistill.Models.BitNet.BitNetConfig.Field))
            throw new UsageException($"--prompts-file runs on the inference runtime, which does not run ternary training checkpoints ({configPath} has a 'bitnet' object); export the model with `bitdistill export` first");
        if (Directory.Exists(a.PromptsFile)) throw new UsageException($"--prompts-file '{a.PromptsFile}' is a folder; expected a text file with one prompt per line");
        if (!File.Exists(a.PromptsFile)) throw new UsageException($"--prompts-file '{a.PromptsFile}' does not exist");
        var lines = File.ReadAllLines(a.PromptsFile!).Select((text, i) => (text, line: i + 1)).Where(l => l.text.Trim().Length > 0).ToArray();
        if (lines.Length == 0) throw new UsageException($"--prompts-file '{a.PromptsFile}' holds no prompt (every line is blank)");
        var prompts = new int[lines.Length][];
        for (int i = 0; i < lines.Length; i++)
        {
            prompts[i] = tokenizer.Encode(lines[i].text);
            if (prompts[i].Length == 0) throw new UsageException($"{a.PromptsFile}:{lines[i].line}: the prompt encodes to no tokens");
            if (prompts[i].FirstOrDefault(id => id >= config.VocabSize, -1) is int bad and >= 0)
                throw new UsageException($"{a.PromptsFile}:{lines[i].line}: the tokenizer {tokenizer.Source} gives id {bad}, outside the model's vocabulary (vocab_size {config.VocabSize} in {configPath})");
            if ((long)prompts[i].Length + maxNewTokens > config.MaxPositionEmbeddings)
                throw new UsageException($"{a.PromptsFile}:{lines[i].line}: the prompt ({prompts[i].Length} tokens) plus --max-new-tokens {maxNewTokens} exceeds max_position_embeddings {config.MaxPositionEmbeddings} ({configPath})");
        }
        var stops = new HashSet<int>(config.EosTokenIds.Concat(extraStops));
        if (tokenizer.EosId is int eos) stops.Add(eos);
        var generator = new RuntimeGenerator(RuntimeModel.Load(a.Model));
        var options = new RuntimeGenerationOptions { MaxNewTokens = maxNewTokens, Sampling = sampling.ToSettings(), StopTokenIds = stops, KvCache = kv };
        if (!a.Json) TrySetUtf8();
        long tokens = 0;
        var decodeTime = TimeSpan.Zero;
        for (int start = 0; start < prompts.Length; start += a.BatchSize)
        {
            var chunk = prompts.Skip(start).Take(a.BatchSize).ToArray();
            var results = generator.GenerateBatch(chunk, options);
            decodeTime += results[0].DecodeTime;
            for (int j = 0; j < results.Length; j++)
            {
                var r = results[j];
                tokens += r.GeneratedIds.Length;
                var decoder = new IncrementalDecoder(tokenizer);
                var text = new StringBuilder();
                foreach (var id in r.GeneratedIds) text.Append(decoder.Push(id));
                text.Append(decoder.Flush());
                var g = new GenerationResult
                {
                    PromptIds = r.PromptIds, GeneratedIds = r.GeneratedIds, StopReason = r.StoppedAtStopToken ? StopReason.StopToken : StopReason.MaxNewTokens,
                    Text = text.ToString(), PromptLastLogits = r.PromptLastLogits, PrefillTime = r.PrefillTime, DecodeTime = r.DecodeTime,
                };
                if (a.Json) WriteJson(stdout, g, withText: true);
                else stdout.WriteLine($"=== {a.PromptsFile}:{lines[start + j].line} ===\n{lines[start + j].text}{g.Text}");
            }
        }
        stdout.Flush();
        if (!a.Json)
            stderr.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"[{prompts.Length} prompts in batches of {a.BatchSize}: {tokens} new tokens, {tokens / Math.Max(1e-9, decodeTime.TotalSeconds):F1} tokens/s over the decode steps]"));
        return 0;
    }

    // The runtime's generator with the library generator's text handling: the same stop tokens (config eos ids and the
    // tokenizer's EOS), text streamed piece by piece through the incremental decoder, and its result in the same record.
    static GenerationResult GenerateOnRuntime(string folder, IModelConfig config, TextTokenizer? tokenizer, int[] ids, int maxNewTokens,
        SamplingOptions sampling, Action<string>? write, IReadOnlyList<int> extraStops, DType kv)
    {
        var stops = new HashSet<int>(config.EosTokenIds.Concat(extraStops));
        if (tokenizer?.EosId is int eos) stops.Add(eos);
        var decoder = tokenizer is null ? null : new IncrementalDecoder(tokenizer);
        var text = new StringBuilder();
        var generator = new RuntimeGenerator(RuntimeModel.Load(folder));
        var r = generator.Generate(ids, new RuntimeGenerationOptions
        {
            MaxNewTokens = maxNewTokens,
            Sampling = sampling.ToSettings(),
            StopTokenIds = stops,
            KvCache = kv,
            OnToken = decoder is null ? null : id =>
            {
                string piece = decoder.Push(id);
                text.Append(piece);
                write?.Invoke(piece);
            },
        });
        if (decoder is not null) text.Append(decoder.Flush());
        return new GenerationResult
        {
            PromptIds = r.PromptIds,
            GeneratedIds = r.GeneratedIds,
            StopReason = r.StoppedAtStopToken ? StopReason.StopToken : StopReason.MaxNewTokens,
            Text = text.ToString(),
            PromptLastLogits = r.PromptLastLogits,
            PrefillTime = r.PrefillTime,
            DecodeTime = r.DecodeTime,
        };
    }

    /// <summary>Writes the --json object (see the option's help) as one line.</summary>
    public static void WriteJson(TextWriter stdout, GenerationResult r, bool withText)
    {
        var (topIds, topLogits) = TextGenerator.TopK(r.PromptLastLogits, 5);
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteStartArray("prompt_ids"); foreach (var id in r.PromptIds) w.WriteNumberValue(id); w.WriteEndArray();
            w.WriteStartArray("generated_ids"); foreach (var id in r.GeneratedIds) w.WriteNumberValue(id); w.WriteEndArray();
            w.WriteStartObject("top5");
            w.WriteStartArray("ids"); foreach (var id in topIds) w.WriteNumberValue(id); w.WriteEndArray();
            w.WriteStartArray("logits"); foreach (var x in topLogits) { if (float.IsFinite(x)) w.WriteNumberValue(x); else w.WriteNullValue(); } w.WriteEndArray();
            w.WriteEndObject();
            w.WriteString("stop_reason", r.StopReason == StopReason.StopToken ? "stop_token" : "max_new_tokens");
            if (withText) w.WriteString("text", r.Text);
            w.WriteEndObject();
        }
        stdout.WriteLine(Encoding.UTF8.GetString(ms.ToArray()));
        stdout.Flush();
    }

    static int[] ParseIds(string text, IModelConfig config, string configPath)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var ids = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out ids[i]))
                throw new UsageException($"--prompt-ids: '{parts[i]}' (item {i + 1}) is not a token id; expected comma-separated non-negative integers");
            if (ids[i] >= config.VocabSize)
                throw new UsageException($"--prompt-ids: id {ids[i]} (item {i + 1}) is outside the vocabulary: vocab_size is {config.VocabSize} in {configPath}");
        }
        return ids;
    }

    static void TrySetUtf8()
    {
        try { Console.OutputEncoding = new UTF8Encoding(false); } catch (Exception e) when (e is IOException or PlatformNotSupportedException) { }
    }
}
