using System.Diagnostics;
using System.Globalization;
using BitDistill.Autograd;
using BitDistill.Distill.Objectives;
using BitDistill.Kernels;
using BitDistill.Models.BitNet;
using BitDistill.Models.Qwen;
using BitDistill.Tensors;

namespace BitDistill.Bench;

/// <summary>`distill-step [--threads N] [--steps N]`: the cost of a stage-3 distillation step (teacher forward in no-grad +
/// student forward/backward with CE + λ·LD + γ·AD + AdamW) against a plain fine-tuning step of the same ternary student
/// (CE + AdamW), at the qwen-train shape (batch 8 × 256, vocab 8192, hidden 256, 4 layers); the issue's goal is ≤ 1.5×.</summary>
public static class DistillStepBench
{
    /// <summary>Runs the measurement and prints a table.</summary>
    public static int Run(string[] args)
    {
        int threads = Environment.ProcessorCount, steps = 7;
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
        double Measure(ITrainingObjective objective)
        {
            var opt = new AdamW(student.Parameters(), lr: 1e-5f);
            var times = new List<double>();
            for (int i = 0; i < 2 + steps; i++)
            {
                var sw = Stopwatch.StartNew();
                using (TensorScope.Begin())
                {
                    opt.ZeroGrad();
                    objective.Compute(student, batch).Loss.Backward();
                    opt.Step();
                }
                if (i >= 2) times.Add(sw.Elapsed.TotalMilliseconds);
            }
            return times.Order().ElementAt(times.Count / 2);
        }
        double ce = Measure(new CausalLmObjective());
        double full = Measure(new DistillationObjective(teacher, new DistillationOptions()));
        double ldOnly = Measure(new DistillationObjective(teacher, new DistillationOptions { AttentionWeight = 0 }));
        Console.WriteLine($"| threads | fine-tuning step ms | distillation step ms (CE+LD+AD) | ratio | CE+LD only ms | ratio |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {threads} | {ce:F1} | {full:F1} | {full / ce:F2}× | {ldOnly:F1} | {ldOnly / ce:F2}× |"));
        Console.WriteLine($"load after: {File.ReadAllText("/proc/loadavg").Trim()}");
        return 0;
    }
}
