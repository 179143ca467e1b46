using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using BitDistill.Autograd;
using BitDistill.Distill.Objectives;
using BitDistill.Kernels;
using BitDistill.Models.Layers;
using BitDistill.Models.Qwen;
using BitDistill.Tensors;

namespace BitDistill.Bench;

/// <summary>`qwen-train [--profile] [--threads 1,2] [--steps N] [--no-peer]`: one training step (forward, causal-LM
/// cross-entropy, backward, AdamW) of a small Qwen3 (vocab 8192, hidden 256, 4 layers, 4/2 heads, head_dim 64,
/// intermediate 768, tied embeddings) on ids [8, 256], against the same model in PyTorch (bench/peers/torch_qwen_train.py)
/// run in the same process invocation with the same thread count; also float32 prefill and decode tokens/s.</summary>
public static partial class QwenTrainBench
{
    private const int Batch = 8, Seq = 256, Vocab = 8192, PromptLen = 32, DecodeTokens = 64;

    internal const string ConfigJson = """
        {"model_type": "qwen3", "vocab_size": 8192, "hidden_size": 256, "intermediate_size": 768, "num_hidden_layers": 4,
         "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 64, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
         "tie_word_embeddings": true, "initializer_range": 0.02, "max_position_embeddings": 4096}
        """;

    /// <summary>Measured numbers of one side at one thread count.</summary>
    public sealed record Result(double TrainMs, double TrainMinMs, double TrainCpuMs, double PrefillTokS, double DecodeTokS);

    /// <summary>Entry point.</summary>
    public static int Run(string[] args)
    {
        bool profile = args.Contains("--profile"), noPeer = args.Contains("--no-peer");
        int[] threads = [1, 2];
        int steps = 9;
        for (int i = 0; i < args.Length - 1; i++)
        {
            if (args[i] == "--threads") threads = args[i + 1].Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
            if (args[i] == "--steps") steps = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
        }
        Console.WriteLine($"SIMD {KernelContext.Current.Simd}, {Environment.ProcessorCount} logical cores, .NET {Environment.Version}, load {LoadAverage()}");
        if (profile)
        {
            foreach (var t in threads) Profile(t, steps);
            return 0;
        }
        var ours = new Dictionary<int, Result>();
        var torch = new Dictionary<int, Result?>();
        foreach (var t in threads)
        {
            ours[t] = MeasureOurs(t, steps);
            Console.WriteLine($"ours threads={t} train_ms={ours[t].TrainMs:F2} train_min_ms={ours[t].TrainMinMs:F2} train_cpu_ms={ours[t].TrainCpuMs:F2} prefill_tok_s={ours[t].PrefillTokS:F1} decode_tok_s={ours[t].DecodeTokS:F1}");
            torch[t] = noPeer ? null : RunTorch(t);
        }
        Console.WriteLine();
        Console.WriteLine("Wall-clock medians; CPU = median process CPU time per step (all threads), less sensitive to other load on the machine.");
        Console.WriteLine("| threads | ours ms/step | torch ms/step | speed-up (torch/ours) | ours CPU ms | torch CPU ms | CPU ratio | ours prefill tok/s | torch prefill tok/s | ours decode tok/s | torch decode tok/s |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var t in threads)
        {
            var o = ours[t]; var p = torch[t];
            string F(double? v, string f = "F1") => v is { } x ? x.ToString(f, CultureInfo.InvariantCulture) : "n/a";
            Console.WriteLine($"| {t} | {F(o.TrainMs)} | {F(p?.TrainMs)} | {(p is null ? "n/a" : F(p.TrainMs / o.TrainMs, "F2") + "×")} | {F(o.TrainCpuMs)} | {F(p?.TrainCpuMs)} | {(p is null ? "n/a" : F(p.TrainCpuMs / o.TrainCpuMs, "F2") + "×")} | {F(o.PrefillTokS)} | {F(p?.PrefillTokS)} | {F(o.DecodeTokS)} | {F(p?.DecodeTokS)} |");
        }
        Console.WriteLine($"load after: {LoadAverage()}");
        return 0;
    }

    private static QwenModel Build() => new(QwenConfig.Parse(ConfigJson, "qwen-train bench"), new Generator(1234));

    private static Tensor RandomIds(int b, int t, int seed)
    {
        var rng = new Random(seed);
        var ids = new long[b * t];
        for (int i = 0; i < ids.Length; i++) ids[i] = rng.Next(Vocab);
        return Tensor.FromArray(ids, [b, t]);
    }

    private static float Step(QwenModel model, AdamW opt, Tensor ids)
    {
        using var scope = TensorScope.Begin();
        opt.ZeroGrad();
        var loss = CausalLmObjective.Loss(model, ids);
        loss.Backward();
        opt.Step();
        return loss.Item();
    }

    private static double Median(List<double> xs) { var s = xs.Order().ToArray(); return s[s.Length / 2]; }

    /// <summary>Median step time, prefill and decode throughput of our implementation at <paramref name="threads"/>.</summary>
    public static Result MeasureOurs(int threads, int steps)
    {
        using var _ = KernelContext.Override(degreeOfParallelism: threads);
        var model = Build();
        var opt = new AdamW(model.Parameters(), lr: 1e-4f, weightDecay: 0.01f);
        var ids = RandomIds(Batch, Seq, 7);
        var times = new List<double>(); var cpu = new List<double>();
        var proc = Process.GetCurrentProcess();
        for (int i = 0; i < 3 + steps; i++)
        {
            proc.Refresh();
            var c0 = proc.TotalProcessorTime;
            long t0 = Stopwatch.GetTimestamp();
            float loss = Step(model, opt, ids);
            double ms = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            proc.Refresh();
            if (!float.IsFinite(loss)) throw new InvalidOperationException($"loss is {loss}");
            if (i >= 3) { times.Add(ms); cpu.Add((proc.TotalProcessorTime - c0).TotalMilliseconds); }
        }
        return new Result(Median(times), times.Min(), Median(cpu), Prefill(model), Decode(model));
    }

    private static double Prefill(QwenModel model)
    {
        var prompt = RandomIds(1, Seq, 11);
        var times = new List<double>();
        using var ng = GradMode.NoGrad();
        for (int i = 0; i < 10; i++)
        {
            using var scope = TensorScope.Begin();
            long t0 = Stopwatch.GetTimestamp();
            model.Forward(prompt);
            if (i >= 3) times.Add(Stopwatch.GetElapsedTime(t0).TotalSeconds);
        }
        return Seq / Median(times);
    }

    // Greedy decoding with the KV cache: a 32-token prompt, then 64 single-token steps (only the steps are timed).
    private static double Decode(QwenModel model)
    {
        var prompt = RandomIds(1, PromptLen, 11);
        var times = new List<double>();
        using var ng = GradMode.NoGrad();
        for (int run = 0; run < 6; run++)
        {
            using var scope = TensorScope.Begin();
            var cache = new KvCache(model.Config.NumHiddenLayers);
            long next = ArgMaxLast(model.Forward(prompt, cache: cache).Value);
            long t0 = Stopwatch.GetTimestamp();
            for (int i = 0; i < DecodeTokens; i++)
                next = ArgMaxLast(model.Forward(Tensor.FromArray(new[] { next }, [1, 1]), cache: cache).Value);
            if (run >= 1) times.Add(Stopwatch.GetElapsedTime(t0).TotalSeconds);
        }
        return DecodeTokens / Median(times);
    }

    private static long ArgMaxLast(Tensor logits)
    {
        int t = logits.Shape[1];
        return logits.Narrow(1, t - 1, 1).Reshape(-1).ArgMax().ToArray<long>()[0];
    }

    /// <summary>Times forward / backward / optimizer phases and the top ops of a training step.</summary>
    public static void Profile(int threads, int steps)
    {
        using var _ = KernelContext.Override(degreeOfParallelism: threads);
        var model = Build();
        var opt = new AdamW(model.Parameters(), lr: 1e-4f, weightDecay: 0.01f);
        var ids = RandomIds(Batch, Seq, 7);
        for (int i = 0; i < 3; i++) Step(model, opt, ids);
        double fwd = 0, bwd = 0, optMs = 0, zero = 0, dispose = 0;
        var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        int gc0 = GC.CollectionCount(0), gc2 = GC.CollectionCount(2);
        long alloc0 = GC.GetTotalAllocatedBytes();
        OpProfiler.Start();
        for (int i = 0; i < steps; i++)
        {
            var scope = TensorScope.Begin();
            long t0 = Stopwatch.GetTimestamp();
            opt.ZeroGrad();
            long t1 = Stopwatch.GetTimestamp();
            OpProfiler.Mark();
            var loss = CausalLmObjective.Loss(model, ids);
            long t2 = Stopwatch.GetTimestamp();
            loss.Backward();
            long t3 = Stopwatch.GetTimestamp();
            opt.Step();
            long t4 = Stopwatch.GetTimestamp();
            scope.Dispose();
            long t5 = Stopwatch.GetTimestamp();
            zero += Stopwatch.GetElapsedTime(t0, t1).TotalMilliseconds; fwd += Stopwatch.GetElapsedTime(t1, t2).TotalMilliseconds;
            bwd += Stopwatch.GetElapsedTime(t2, t3).TotalMilliseconds; optMs += Stopwatch.GetElapsedTime(t3, t4).TotalMilliseconds;
            dispose += Stopwatch.GetElapsedTime(t4, t5).TotalMilliseconds;
        }
        OpProfiler.Stop();
        double cpuMs = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalMilliseconds / steps;
        string gc = $"GC per step: {(GC.CollectionCount(0) - gc0) / (double)steps:F1} gen0, {(GC.CollectionCount(2) - gc2) / (double)steps:F1} gen2, {(GC.GetTotalAllocatedBytes() - alloc0) / 1e6 / steps:F1} MB allocated";
        double total = zero + fwd + bwd + optMs + dispose;
        Console.WriteLine($"\n## profile, {threads} thread(s), mean of {steps} steps: {total / steps:F1} ms/step (process CPU time {cpuMs:F1} ms/step)");
        Console.WriteLine(gc);
        Console.WriteLine($"zero-grad {zero / steps:F1} ms | forward {fwd / steps:F1} ms | backward {bwd / steps:F1} ms | AdamW {optMs / steps:F1} ms | scope dispose {dispose / steps:F1} ms");
        foreach (var (title, table) in new[] { ("forward", OpProfiler.Forward), ("backward", OpProfiler.Backward) })
        {
            Console.WriteLine($"\n| {title} op [output shape] | ms/step | calls/step | % of step |");
            Console.WriteLine("|---|---:|---:|---:|");
            foreach (var (name, (ms, calls)) in table.OrderByDescending(kv => kv.Value.Ms).Take(16))
                Console.WriteLine($"| {name} | {ms / steps:F2} | {calls / (double)steps:F0} | {100 * ms / total:F1}% |");
        }
    }

    private static string LoadAverage()
    {
        try { return File.ReadAllText("/proc/loadavg").Split(' ')[0]; } catch (IOException) { return "?"; }
    }

    private static Result? RunTorch(int threads)
    {
        // OMP_WAIT_POLICY=PASSIVE: torch's OpenMP pool and OpenBLAS's pthread pool otherwise spin against each other on the same
        // cores; measured here, the 2-thread step went from ~1360 ms (slower than 1 thread) to ~740 ms with it. This is torch's best
        // configuration on this machine, so it is the fair peer.
        var (ok, output) = TorchPeer.Run("torch_qwen_train.py", threads, "OMP_WAIT_POLICY=PASSIVE");
        if (!ok)
        {
            Console.WriteLine($"PyTorch peer unavailable or failed: {output}");
            return null;
        }
        double Get(string key) => double.Parse(Regex.Match(output, key + @"=([0-9.]+)").Groups[1].Value, CultureInfo.InvariantCulture);
        return new Result(Get("train_ms"), Get("train_min_ms"), Get("train_cpu_ms"), Get("prefill_tok_s"), Get("decode_tok_s"));
    }
}
