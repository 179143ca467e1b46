using System.CommandLine;
using System.Globalization;
using BitDistill.Autograd;
using BitDistill.Distill.Training;

namespace BitDistill.Cli;

/// <summary>The training flags of the task verbs: length (epochs or steps), batch, learning rate, warm-up, weight decay,
/// evaluation and checkpoint intervals, seed.</summary>
public sealed class TrainingArguments
{
    /// <summary>--epochs.</summary>
    public Option<double> Epochs { get; } = new("--epochs") { Description = "passes over the training rows (ignored with --steps)", DefaultValueFactory = _ => 3 };
    /// <summary>--steps.</summary>
    public Option<int?> Steps { get; } = new("--steps") { Description = "optimizer steps (default: from --epochs)" };
    /// <summary>--batch.</summary>
    public Option<int> Batch { get; } = new("--batch") { Description = "rows per micro-batch (a step is --batch × --grad-accumulation × MPI ranks rows)", DefaultValueFactory = _ => 16 };
    /// <summary>--grad-accumulation.</summary>
    public Option<int> GradAccumulation { get; } = new("--grad-accumulation") { Description = GradAccumulationHelp, DefaultValueFactory = _ => 1 };
    /// <summary>--lr.</summary>
    public Option<float> Lr { get; } = new("--lr") { Description = "peak learning rate (warm-up, then cosine)", DefaultValueFactory = _ => 1e-3f };
    /// <summary>--warmup-ratio.</summary>
    public Option<double> Warmup { get; } = new("--warmup-ratio") { Description = "share of the steps spent warming up", DefaultValueFactory = _ => 0.05 };
    /// <summary>--weight-decay.</summary>
    public Option<float> WeightDecay { get; } = new("--weight-decay") { Description = "AdamW weight decay on matrices", DefaultValueFactory = _ => 0.01f };
    /// <summary>--eval-every.</summary>
    public Option<int> EvalEvery { get; } = new("--eval-every") { Description = "steps between validations (the best model is kept; 0 = at the end only)", DefaultValueFactory = _ => 0 };
    /// <summary>--eval-rows.</summary>
    public Option<int> EvalRows { get; } = new("--eval-rows") { Description = "validation rows used per validation", DefaultValueFactory = _ => 200 };
    /// <summary>--checkpoint-every.</summary>
    public Option<int> CheckpointEvery { get; } = new("--checkpoint-every") { Description = "steps between checkpoints (an interrupted run resumes from the last)", DefaultValueFactory = _ => 100 };
    /// <summary>--seed.</summary>
    public Option<ulong> Seed { get; } = new("--seed") { Description = "seed of the data order and splits", DefaultValueFactory = _ => 1UL };

    /// <summary>Adds the flags to <paramref name="cmd"/>.</summary>
    public void AddTo(Command cmd)
    {
        foreach (var o in new Option[] { Epochs, Steps, Batch, GradAccumulation, Lr, Warmup, WeightDecay, EvalEvery, EvalRows, CheckpointEvery, Seed }) cmd.Options.Add(o);
    }

    /// <summary>Checks every training option that does not depend on the data; verbs call it before they claim an output
    /// folder or read anything.</summary>
    public void Check(ParseResult p)
    {
        _ = Options(p, rows: 1);
        Rows(p);
    }

    /// <summary>Checked training options for <paramref name="rows"/> training rows.</summary>
    public TrainingOptions Options(ParseResult p, int rows)
    {
        int batch = Positive(p.GetValue(Batch), "--batch");
        double epochs = p.GetValue(Epochs);
        if (!(epochs > 0)) throw new UsageException($"--epochs must be positive, got {epochs.ToString(CultureInfo.InvariantCulture)}");
        int accumulation = Positive(p.GetValue(GradAccumulation), "--grad-accumulation");
        long rowsPerStep = (long)batch * accumulation * DataParallel.Communicator.Size;
        int steps = p.GetValue(Steps) is { } s ? Positive(s, "--steps") : Math.Max(1, (int)Math.Ceiling(epochs * rows / rowsPerStep));
        float lr = p.GetValue(Lr);
        if (!(lr > 0) || !float.IsFinite(lr)) throw new UsageException($"--lr must be positive, got {lr.ToString(CultureInfo.InvariantCulture)}");
        double warm = p.GetValue(Warmup);
        if (!(warm >= 0 && warm < 1)) throw new UsageException($"--warmup-ratio must be in [0, 1), got {warm.ToString(CultureInfo.InvariantCulture)}");
        float decay = p.GetValue(WeightDecay);
        if (!(decay >= 0) || !float.IsFinite(decay)) throw new UsageException($"--weight-decay must be a finite number ≥ 0, got {decay.ToString(CultureInfo.InvariantCulture)}");
        if (p.GetValue(EvalEvery) < 0) throw new UsageException($"--eval-every must be ≥ 0, got {p.GetValue(EvalEvery)}");
        return new TrainingOptions
        {
            Steps = steps, BatchSize = batch, GradAccumulation = accumulation, LearningRate = lr, WarmupSteps = (int)Math.Round(warm * steps), WeightDecay = decay,
            EvalEvery = p.GetValue(EvalEvery), CheckpointEvery = Positive(p.GetValue(CheckpointEvery), "--checkpoint-every"), Seed = p.GetValue(Seed),
            LogEvery = Math.Max(1, Math.Min(10, steps / 20)),
        };
    }

    /// <summary>The description of --grad-accumulation (pretrain shares it).</summary>
    public const string GradAccumulationHelp = "micro-batches of --batch rows whose gradients are summed before each optimizer step, per process; "
        + "under mpirun a step covers --batch × --grad-accumulation × ranks rows (2 ranks × 1 resume as 1 process × 2)";

    /// <summary>Validation rows per validation.</summary>
    public int Rows(ParseResult p) => Positive(p.GetValue(EvalRows), "--eval-rows");

    private static int Positive(int v, string flag) => v > 0 ? v : throw new UsageException($"{flag} must be positive, got {v}");
}
