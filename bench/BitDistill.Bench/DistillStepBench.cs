using System.Diagnostics;
using System.Globalization;
using BitDistill.Autograd;
using BitDistill.Distill.Objectives;
using BitDistill.Kernels;
using BitDistill.Models.BitNet;
using BitDistill.Models.Qwen;
using BitDistill.Tensors;

namespace BitDistill.Bench;

/// <summary>`distill-step [--threads N] [--steps N] [--profile]`: the cost of a stage-3 distillation step (teacher forward in no-grad +
/// student forward/backward with CE + λ·LD + γ·AD + AdamW) against a plain fine-tuning step of the same ternary student
/// (CE + AdamW), at the qwen-train shape (batch 8 × 256, vocab 8192, hidden 256, 4 layers); the issue's goal is ≤ 1.5×.</summary>
public static class DistillStepBench
{
    /// <summary>Runs the measurement and prints a table.</summary>
    public static int Run(string[] args)
    {
        int threads = Environment.ProcessorCount, steps = 11;
        bool profile = args.Contains("--profile");
        for (int i = 0; i < args.Length - 1; i++)
        {
            if (args[i] == "--threads") threads = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            if (args[i] == "--steps") steps = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
        }
        Console.WriteLine($"load before: {File.ReadAllText("/proc/loadavg").Trim()}");
        using var _ = KernelContext.Override(degreeOfParallelism: threads);
        var config = QwenConfig.Parse(QwenTrainBench.ConfigJson, "distill-step bench");
        var teacher = new QwenModel(config, new Generator(1));
        var student = Refiner.Refine(new QwenModel(config, new Generator(2)), new BitNetConfig());
        var rng = new Random(3);
        var ids = Tensor.FromArray(Enumerable.Range(0, 8 * 256).Select(_ => (long)rng.Next(config.VocabSize)).ToArray(), [8, 256]);
        // targets on every position (the worst case for LD: the KL covers all of them)
        var targets = Tensor.FromArray(Enumerable.Range(0, 8 * 256).Select(_ => (long)rng.Next(config.VocabSize)).ToArray(), [8, 256]);
        var batch = new TrainingBatch(ids, targets);
        if (profile)
        {
            Profile("fine-tuning step (CE)", new CausalLmObjective(), student, batch, steps);
            Profile("distillation step (CE + LD + AD)", new DistillationObjective(teacher, new DistillationOptions()), student, batch, steps);
            return 0;
        }
        // The three objectives take turns step by step (after two warm-up steps each), so a change of machine load during the
        // run affects all of them alike; each time is the median of its steps.
        ITrainingObjective[] objectives = [new CausalLmObjective(), new DistillationObjective(teacher, new DistillationOptions()),
            new DistillationObjective(teacher, new DistillationOptions { AttentionWeight = 0 })];
        var opt = new AdamW(student.Parameters(), lr: 1e-5f);
        var times = objectives.Select(_ => new List<double>()).ToArray();
        for (int i = 0; i < 2 + steps; i++)
            for (int o = 0; o < objectives.Length; o++)
            {
                var sw = Stopwatch.StartNew();
                using (TensorScope.Begin())
                {
                    opt.ZeroGrad();
                    objectives[o].Compute(student, batch).Loss.Backward();
                    opt.Step();
                }
                if (i >= 2) times[o].Add(sw.Elapsed.TotalMilliseconds);
            }
        var median = times.Select(t => t.Order().ElementAt(t.Count / 2)).ToArray();
        double ce = median[0], full = median[1], ldOnly = median[2];
        Console.WriteLine($"| threads | fine-tuning step ms | distillation step ms (CE+LD+AD) | ratio | CE+LD only ms | ratio |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {threads} | {ce:F1} | {full:F1} | {full / ce:F2}× | {ldOnly:F1} | {ldOnly / ce:F2}× |"));
        Console.WriteLine($"load after: {File.ReadAllText("/proc/loadavg").Trim()}");
        return 0;
    }

    // Per-op times of one objective's steps (OpProfiler), to see where a distillation step's extra time goes.
    private static void Profile(string title, ITrainingObjective objective, QwenModel student, TrainingBatch batch, int steps)
    {
        var opt = new AdamW(student.Parameters(), lr: 1e-5f);
        for (int i = 0; i < 2; i++) using (TensorScope.Begin()) { opt.ZeroGrad(); objective.Compute(student, batch).Loss.Backward(); opt.Step(); }
        double fwd = 0, bwd = 0, rest = 0;
        OpProfiler.Start();
        for (int i = 0; i < steps; i++)
        {
            var scope = TensorScope.Begin();
            long t0 = Stopwatch.GetTimestamp();
            opt.ZeroGrad();
            OpProfiler.Mark();
            var loss = objective.Compute(student, batch).Loss;
            long t1 = Stopwatch.GetTimestamp();
            loss.Backward();
            long t2 = Stopwatch.GetTimestamp();
            opt.Step();
            scope.Dispose();
            long t3 = Stopwatch.GetTimestamp();
            fwd += Stopwatch.GetElapsedTime(t0, t1).TotalMilliseconds;
            bwd += Stopwatch.GetElapsedTime(t1, t2).TotalMilliseconds;
            rest += Stopwatch.GetElapsedTime(t2, t3).TotalMilliseconds;
        }
        OpProfiler.Stop();
        double total = fwd + bwd + rest;
        Console.WriteLine($"\n## {title}: {total / steps:F1} ms/step (forward incl. teacher {fwd / steps:F1}, backward {bwd / steps:F1}, AdamW + scope {rest / steps:F1})");
        foreach (var (name, table) in new[] { ("forward", OpProfiler.Forward), ("backward", OpProfiler.Backward) })
        {
            Console.WriteLine($"\n| {name} op [output shape] | ms/step | calls/step | % of step |");
            Console.WriteLine("|---|---:|---:|---:|");
            foreach (var (op, (ms, calls)) in table.OrderByDescending(kv => kv.Value.Ms).Take(14))
                Console.WriteLine($"| {op} | {ms / steps:F2} | {calls / (double)steps:F0} | {100 * ms / total:F1}% |");
        }
    }
}
