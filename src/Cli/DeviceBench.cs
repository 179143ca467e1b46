using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using BitDistill.Autograd;
using BitDistill.Backends.Ilgpu;
using BitDistill.Distill.Objectives;
using BitDistill.Models;
using BitDistill.Models.BitNet;
using BitDistill.Models.Generation;
using BitDistill.Models.Qwen;
using BitDistill.Tensors;

namespace BitDistill.Cli;

/// <summary>`bitdistill bench device`: SGEMM TFLOP/s, a row kernel's GB/s (log-softmax over Qwen's 151,936-wide vocabulary),
/// one training step of the qwen-train model, one stage-3 distillation step (CE + LD + AD) and greedy decode tokens/s of a
/// ternary (QAT) model, on an ILGPU device next to the CPU backend measured in the same run; one table, the device's speed
/// as a multiple of the CPU's.</summary>
public static class DeviceBench
{
    // the bench's qwen-train shape (bench/BitDistill.Bench/QwenTrainBench.cs): batch 8 × 256 tokens
    private const string FullConfig = """
        {"model_type": "qwen3", "vocab_size": 8192, "hidden_size": 256, "intermediate_size": 768, "num_hidden_layers": 4,
         "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 64, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
         "tie_word_embeddings": true, "max_position_embeddings": 4096}
        """;
    private const string QuickConfig = """
        {"model_type": "qwen3", "vocab_size": 61, "hidden_size": 16, "intermediate_size": 24, "num_hidden_layers": 2,
         "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 8, "rms_norm_eps": 1e-6, "rope_theta": 10000,
         "tie_word_embeddings": true, "max_position_embeddings": 64}
        """;

    private sealed record Sizes(string Config, int Batch, int Seq, int Gemm, int Repeats, int Prompt, int Decode, bool WarmUp, int Rows, int Vocab);
    private sealed record Row(string Metric, string Unit, double Cpu, double Device);

    /// <summary>Builds the `bench device` command.</summary>
    public static Command Create()
    {
        var device = new Option<string>("--device")
        {
            Description = "the device measured against the CPU: cuda (the first NVIDIA GPU), opencl, or emulator (ILGPU's CPU accelerator: very slow, use it with --quick to check that every step runs)",
            DefaultValueFactory = _ => "cuda",
        };
        device.AcceptOnlyFromAmong("cuda", "opencl", "emulator");
        var quick = new Option<bool>("--quick") { Description = "tiny shapes and one repetition (seconds on a GPU, about a minute on the emulator)" };
        var json = new Option<string>("--json") { Description = "also write the rows as a JSON array of objects (metric, unit, cpu, device, ratio, device_name, load averages)" };
        var command = new Command("device", "SGEMM TFLOP/s, log-softmax GB/s over a 151,936-wide vocabulary, a training step, a distillation step and ternary decode tokens/s on an ILGPU device against the CPU backend, in one run") { device, quick, json };
        command.SetAction(parse => ErrorPolicy.Run("bench device", parse, () =>
        {
            string? jsonPath = parse.GetValue(json);
            OutputFile.Check("--json", jsonPath);
            var gpu = parse.GetValue(device) switch
            {
                "cuda" => IlgpuDevices.Cuda(),
                "opencl" => IlgpuDevices.OpenCL(),
                _ => IlgpuDevices.CpuEmulator(),
            };
            return Run(gpu, parse.GetValue(quick), jsonPath, Console.Out);
        }));
        return command;
    }

    /// <summary>Measures every row on the CPU and on <paramref name="device"/> and prints the table.</summary>
    public static int Run(Device device, bool quick, string? jsonPath, TextWriter stdout)
    {
        var sizes = quick ? new Sizes(QuickConfig, 2, 8, 64, 1, 4, 4, WarmUp: false, Rows: 4, Vocab: 61)
            : new Sizes(FullConfig, 8, 256, 4096, 5, 32, 64, WarmUp: true, Rows: 256, Vocab: 151936);
        string load0 = LoadAverage.Read();
        stdout.WriteLine($"device: {device.Name}; CPU: {Environment.ProcessorCount} cores; load average before: {load0}");
        var rows = new List<Row>();
        void Add(string metric, string unit, Func<Device, double> measure)
        {
            double cpu = measure(Device.Cpu), dev = measure(device);
            rows.Add(new Row(metric, unit, cpu, dev));
            stdout.WriteLine($"  {metric}: CPU {Format(cpu)} {unit}, device {Format(dev)} {unit}");
        }
        int n = sizes.Gemm;
        Add($"SGEMM {n}×{n}×{n}", "TFLOP/s", d => 2.0 * n * n * n / Seconds(d, sizes, () => Sgemm(d, n)) / 1e12);
        // log-softmax reads and writes each logit once: the row kernels' memory traffic
        Add($"row kernel (log-softmax, {sizes.Rows}×{sizes.Vocab} logits)", "GB/s", d => 8.0 * sizes.Rows * sizes.Vocab / Seconds(d, sizes, () => LogSoftmax(d, sizes)) / 1e9);
        Add($"training step (qwen-train, {sizes.Batch}×{sizes.Seq} tokens)", "steps/s", d => 1 / Seconds(d, sizes, TrainingStep(d, sizes)));
        Add($"distillation step (CE + LD + AD, {sizes.Batch}×{sizes.Seq} tokens)", "steps/s", d => 1 / Seconds(d, sizes, DistillationStep(d, sizes)));
        Add($"ternary decode (QAT model, {sizes.Decode} tokens)", "tokens/s", d => DecodeTokensPerSecond(d, sizes));
        string load1 = LoadAverage.Read();
        stdout.WriteLine();
        stdout.WriteLine("| measurement | unit | CPU | device | device ÷ CPU |");
        stdout.WriteLine("|---|---|---:|---:|---:|");
        foreach (var r in rows) stdout.WriteLine($"| {r.Metric} | {r.Unit} | {Format(r.Cpu)} | {Format(r.Device)} | {Format(r.Device / r.Cpu)}× |");
        stdout.WriteLine($"(median of {sizes.Repeats}{(sizes.WarmUp ? " after a warm-up" : ", no warm-up: compilation included")}; load average before {load0}, after {load1})");
        if (jsonPath is not null) WriteJson(jsonPath, rows, device.Name, load0, load1);
        return 0;
    }

    private static string Format(double v) => v.ToString(v >= 100 ? "F0" : v >= 1 ? "F2" : "G3", CultureInfo.InvariantCulture);

    // Median seconds of the repetitions after one warm-up (kernel compilation, buffer pools; --quick skips it), each ended
    // by a device sync.
    private static double Seconds(Device d, Sizes s, Action run)
    {
        using var _ = Device.UseDefault(d);
        if (s.WarmUp) { run(); d.Backend.Synchronize(); }
        var times = new List<double>();
        for (int i = 0; i < s.Repeats; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            run();
            d.Backend.Synchronize();
            times.Add(Stopwatch.GetElapsedTime(t0).TotalSeconds);
        }
        return times.Order().ElementAt(times.Count / 2);
    }

    private static readonly Dictionary<(Device, int), (Tensor A, Tensor B)> GemmOperands = [];

    private static void Sgemm(Device d, int n)
    {
        if (!GemmOperands.TryGetValue((d, n), out var ab))
            GemmOperands[(d, n)] = ab = (Tensor.Uniform([n, n], new Generator(1), -1, 1, d), Tensor.Uniform([n, n], new Generator(2), -1, 1, d));
        using var scope = TensorScope.Begin();
        ab.A.MatMul(ab.B);
    }

    private static readonly Dictionary<(Device, int, int), Tensor> Logits = [];

    private static void LogSoftmax(Device d, Sizes s)
    {
        if (!Logits.TryGetValue((d, s.Rows, s.Vocab), out var x))
            Logits[(d, s.Rows, s.Vocab)] = x = Tensor.Uniform([s.Rows, s.Vocab], new Generator(3), -8, 8, d);
        using var scope = TensorScope.Begin();
        x.LogSoftmax(-1);
    }

    private static CausalLanguageModel Model(Device d, Sizes s, ulong seed)
    {
        using var _ = Device.UseDefault(d);
        return ModelRegistry.Create(QwenConfig.Parse(s.Config, "bench device"), new Generator(seed));
    }

    private static Tensor Ids(Device d, Sizes s, int vocab)
    {
        var rng = new Random(7);
        return Tensor.FromArray(Enumerable.Range(0, s.Batch * s.Seq).Select(_ => (long)rng.Next(vocab)).ToArray(), [s.Batch, s.Seq], d);
    }

    private static Action TrainingStep(Device d, Sizes s)
    {
        var model = Model(d, s, 1234);
        var opt = new AdamW(model.Parameters(), lr: 1e-4f, weightDecay: 0.01f);
        var ids = Ids(d, s, model.Config.VocabSize);
        return () =>
        {
            using var scope = TensorScope.Begin();
            opt.ZeroGrad();
            CausalLmObjective.Loss(model, ids).Backward();
            opt.Step();
        };
    }

    private static Action DistillationStep(Device d, Sizes s)
    {
        var teacher = Model(d, s, 1234);
        var student = Student(d, s);
        var opt = new AdamW(student.Parameters(), lr: 1e-4f, weightDecay: 0.01f);
        var ids = Ids(d, s, teacher.Config.VocabSize);
        var batch = new TrainingBatch(ids, ids, null);
        var objective = new DistillationObjective(teacher, new DistillationOptions { LogitsWeight = 10, AttentionWeight = 1e3, Temperature = 5, RelationHeads = 2 });
        return () =>
        {
            using var scope = TensorScope.Begin();
            opt.ZeroGrad();
            objective.Compute(student, batch).Loss.Backward();
            opt.Step();
        };
    }

    private static CausalLanguageModel Student(Device d, Sizes s)
    {
        using var _ = Device.UseDefault(d);
        return Refiner.Refine(Model(d, s, 99), new BitNetConfig { SubLn = SubLnPlacement.Paper });
    }

    private static double DecodeTokensPerSecond(Device d, Sizes s)
    {
        var model = Student(d, s);
        using var _ = Device.UseDefault(d);
        var generator = new TextGenerator(model);
        var prompt = Enumerable.Range(0, s.Prompt).Select(i => 3 + i % 50).ToArray();
        var options = new GenerationOptions { MaxNewTokens = s.Decode, Sampling = new SamplingOptions { Greedy = true }, StopTokenIds = [] };
        if (s.WarmUp) generator.Generate(prompt, options);
        var rates = new List<double>();
        for (int i = 0; i < s.Repeats; i++)
        {
            var r = generator.Generate(prompt, options);
            rates.Add(r.GeneratedIds.Length / r.DecodeTime.TotalSeconds);
        }
        return rates.Order().ElementAt(rates.Count / 2);
    }

    private static void WriteJson(string path, List<Row> rows, string deviceName, string load0, string load1)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartArray();
            foreach (var r in rows)
            {
                w.WriteStartObject();
                w.WriteString("metric", r.Metric); w.WriteString("unit", r.Unit);
                w.WriteNumber("cpu", r.Cpu); w.WriteNumber("device", r.Device); w.WriteNumber("ratio", r.Device / r.Cpu);
                w.WriteString("device_name", deviceName);
                w.WriteString("load_average_before", load0); w.WriteString("load_average_after", load1);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        AtomicFile.WriteAllBytes(path, ms.ToArray());
    }

}
