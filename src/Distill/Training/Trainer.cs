using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using BitDistill.Autograd;
using BitDistill.Distill.Objectives;
using BitDistill.Distill.Reports;
using BitDistill.Models;
using BitDistill.Models.BitNet;
using BitDistill.Tensors;

namespace BitDistill.Distill.Training;

/// <summary>The training loop every stage uses: an objective over deterministic batches with AdamW (no decay on norms,
/// biases and embeddings), warm-up + cosine schedule, global-norm clipping and gradient accumulation. It shows progress
/// (each loss term, tokens/s, ETA), writes metrics as JSONL and the loss terms as a PNG, validates every N steps and keeps
/// the best model, writes checkpoints atomically and resumes from the last one to the same weights as an uninterrupted run
/// (refusing to resume with different settings), and stops on a NaN/infinite loss before applying it. Under MPI
/// (<see cref="DataParallel.Communicator"/>) every rank trains a replica on its own micro-batches and the gradients are summed
/// before the step (<see cref="DataParallelTraining"/>); the root alone logs, validates and writes files.</summary>
public static class Trainer
{
    /// <summary>Runs (or resumes) training for <see cref="TrainingOptions.Steps"/> optimizer steps.</summary>
    public static TrainingHistory Train(CausalLanguageModel model, IBatchSource data, ITrainingObjective objective, TrainingOptions o,
        Func<CausalLanguageModel, ValidationResult>? validate = null)
    {
        if (o.Steps <= 0) throw new ArgumentOutOfRangeException(nameof(o), o.Steps, "Steps must be positive");
        if (o.GradAccumulation <= 0) throw new ArgumentOutOfRangeException(nameof(o), o.GradAccumulation, "GradAccumulation must be positive");
        var comm = DataParallel.Communicator;
        DataParallelTraining.CheckSupported(model, comm);
        bool root = comm.Rank == 0;
        int micros = o.GradAccumulation * comm.Size; // micro-batches per optimizer step over all ranks
        var log = root ? o.Log : null;
        var opt = new AdamW(CausalLmTrainer.DecayGroups(model, o.WeightDecay), lr: o.LearningRate, weightDecay: o.WeightDecay);
        var schedule = new LrSchedule.WarmupCosine(o.WarmupSteps, o.Steps, o.MinLrRatio);
        var history = new TrainingHistory();
        var settings = Settings(o, data, objective, model, micros);
        long start = 0;
        bool resumed = root && o.CheckpointDir is not null && TrainingCheckpoint.TryResume(o.CheckpointDir, model, opt, history, settings, log, out start);
        (resumed, start) = DataParallelTraining.Synchronize(model, opt, comm, resumed, start, o.CheckpointDir);
        if (resumed)
        {
            history.Resumed = true;
            log?.WriteLine($"[{o.Name}] resumed from {Path.Combine(o.CheckpointDir!, TrainingCheckpoint.FolderName)} at step {start}");
        }
        else Refiner.BeginTrainingRun(model); // a fresh run: GPTQ-/AWQ-style training quantisers solve on this run's data
        if (comm.Size > 1)
            log?.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{o.Name}] data-parallel: {comm.Size} ranks × {o.GradAccumulation} micro-batch(es) per step"));
        var buckets = new GradientBuckets(opt.Params.ToList(), comm);
        var reduceClock = new Stopwatch(); // the all-reduce left after the backward pass
        var stepClock = new Stopwatch(); // forward, backward, all-reduce and update (not validation or checkpoints)
        var metrics = !root || o.CheckpointDir is null ? null : new MetricsLog(Path.Combine(o.CheckpointDir, "metrics.jsonl"), start, settings, o.Steps);
        long tokensPerStep = data.TokensPerBatch * micros;
        var sw = Stopwatch.StartNew();
        long stepsTimed = 0;
        model.Train();
        for (long step = start; step < o.Steps; step++)
        {
            double loss = 0;
            bool stopRequested;
            var terms = new SortedDictionary<string, double>(StringComparer.Ordinal);
            stepClock.Start();
            using (TensorScope.Begin())
            {
                opt.ZeroGrad();
                Variable? lastLoss = null; // the last micro-batch's backward runs once the step's loss is known to be finite
                for (int micro = 0; micro < o.GradAccumulation; micro++)
                {
                    var r = objective.Compute(model, data.Get(step * micros + micro * comm.Size + comm.Rank));
                    double l = r.Loss.Item();
                    loss += l / micros;
                    foreach (var (k, v) in r.Terms) terms[k] = terms.GetValueOrDefault(k) + v / micros;
                    if (!double.IsFinite(l)) break;
                    var scaled = micros == 1 ? r.Loss : r.Loss * (1f / micros);
                    if (micro < o.GradAccumulation - 1) scaled.Backward(); else lastLoss = scaled;
                }
                stopRequested = DataParallelTraining.ReduceStep(comm, ref loss, terms, o.Cancellation.IsCancellationRequested);
                // checked before the update: a diverged step never reaches the weights or a checkpoint
                if (!double.IsFinite(loss)) throw Diverged(o, step + 1, loss, terms);
                using (buckets.OverlapBackward()) lastLoss?.Backward(); // under MPI, gradient buckets start their all-reduce meanwhile
                reduceClock.Start();
                buckets.Finish();
                reduceClock.Stop();
                Optimizer.ClipGradNorm(opt.Params, o.ClipNorm);
                opt.Lr = (float)(o.LearningRate * schedule.Factor(step));
                opt.Step();
                Refiner.AfterOptimizerStep(model); // GPTQ-/AWQ-style training quantisers re-solve on their schedule
            }
            stepClock.Stop();
            history.Loss.Add((step + 1, loss));
            history.Terms.Add((step + 1, terms));
            stepsTimed++;
            o.OnStep?.Invoke(step + 1);
            double tps = tokensPerStep * stepsTimed / sw.Elapsed.TotalSeconds;
            history.TokensPerSecond = tps;
            metrics?.Step(step + 1, loss, opt.Lr, tps, terms);
            if (log is not null && ((step + 1) % o.LogEvery == 0 || step + 1 == o.Steps || step == start))
            {
                var eta = TimeSpan.FromSeconds((o.Steps - step - 1) * tokensPerStep / Math.Max(1, tps));
                string termText = terms.Count == 0 ? "" : " (" + string.Join(", ", terms.Select(t => string.Create(CultureInfo.InvariantCulture, $"{t.Key} {t.Value:F4}"))) + ")";
                log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"[{o.Name}] step {step + 1}/{o.Steps} | loss {loss:F4}{termText} | lr {JsonReports.Readable(opt.Lr)} | {tps / 1000:F1}k tok/s | ETA {eta:hh\\:mm\\:ss}"));
            }
            bool last = step + 1 == o.Steps;
            if (root && validate is not null && ((o.EvalEvery > 0 && (step + 1) % o.EvalEvery == 0) || last))
                Validate(model, validate, o, history, metrics, step + 1);
            // one process checks the token after the step's work; several ranks stop at the step they agreed on
            bool stop = (comm.Size == 1 ? o.Cancellation.IsCancellationRequested : stopRequested) && !last;
            if (root && o.CheckpointDir is not null && ((step + 1) % o.CheckpointEvery == 0 || last || stop))
                TrainingCheckpoint.Save(o.CheckpointDir, model, opt, history, step + 1, settings);
            if (stop)
            {
                comm.Barrier(); // the other ranks leave only once the root's checkpoint is complete
                log?.WriteLine($"[{o.Name}] interrupted after step {step + 1}" + (o.CheckpointDir is null ? "" : $"; checkpoint written, run the same command to resume"));
                throw new OperationCanceledException($"[{o.Name}] interrupted after step {step + 1}", o.Cancellation);
            }
        }
        history.StepsDone = o.Steps;
        if (comm.Size > 1 && stepsTimed > 0)
            log?.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"[{o.Name}] data-parallel: {comm.Size} ranks, gradient all-reduce after the backward {100 * reduceClock.Elapsed.TotalSeconds / stepClock.Elapsed.TotalSeconds:F1}% of the step time ({1000 * reduceClock.Elapsed.TotalSeconds / stepsTimed:F1} ms of {1000 * stepClock.Elapsed.TotalSeconds / stepsTimed:F1} ms per step; {model.ParameterCount() * 4e-6:F1} MB of gradients in {buckets.Count} buckets, {buckets.StartedDuringBackward} started during the last backward)"));
        if (root && o.CheckpointDir is not null && history.Terms.Count > 0 && history.Terms[0].Terms.Count > 0)
            Plots.TrainingCurves(Path.Combine(o.CheckpointDir, "loss-terms.png"), $"Loss terms ({o.Name})", "step", "loss",
                history.Terms[0].Terms.Keys.Select(k => (k, (IReadOnlyList<double>)history.Terms.Select(t => (double)t.Step).ToArray(),
                    (IReadOnlyList<double>)history.Terms.Select(t => t.Terms.GetValueOrDefault(k, double.NaN)).ToArray())).ToArray());
        return history;
    }

    private static TrainingDivergedException Diverged(TrainingOptions o, long step, double loss, IReadOnlyDictionary<string, double> terms)
    {
        string termText = terms.Count == 0 ? "" : " (" + string.Join(", ", terms.Select(t => string.Create(CultureInfo.InvariantCulture, $"{t.Key} {t.Value}"))) + ")";
        string kept = o.CheckpointDir is null ? "" : $"; the last good checkpoint is kept in {Path.Combine(o.CheckpointDir, TrainingCheckpoint.FolderName)}";
        return new TrainingDivergedException(string.Create(CultureInfo.InvariantCulture,
            $"[{o.Name}] the loss became {loss} at step {step}{termText}; the step was not applied{kept}; lower the learning rate"));
    }

    private static void Validate(CausalLanguageModel model, Func<CausalLanguageModel, ValidationResult> validate, TrainingOptions o,
        TrainingHistory h, MetricsLog? metrics, long step)
    {
        ValidationResult r;
        using (GradMode.NoGrad()) r = validate(model);
        model.Train();
        h.Validations.Add((step, r));
        if (r.Metric == "perplexity") h.Validation.Add((step, r.Value));
        bool best = r.IsBetterThan(h.Best?.Result);
        if (best)
        {
            h.Best = (step, r);
            if (o.CheckpointDir is not null) TrainingCheckpoint.SaveBest(o.CheckpointDir, model, step, r);
        }
        metrics?.Validation(step, r, best);
        o.Log?.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{o.Name}] step {step}: validation {r.Metric} {r.Value:F4}{(best ? " (best so far)" : "")}"));
    }

    // What a resumed run must share with the run it continues (Steps may grow: the schedule then follows the new length).
    // grad_accumulation counts micro-batches per step over all ranks: 2 ranks × 1 resume as 1 process × 2 (the same rows).
    private static Dictionary<string, string> Settings(TrainingOptions o, IBatchSource data, ITrainingObjective objective, CausalLanguageModel model, int micros)
    {
        var inv = CultureInfo.InvariantCulture;
        return new Dictionary<string, string>
        {
            ["objective"] = objective.Name,
            ["data"] = data.Fingerprint,
            ["grad_accumulation"] = micros.ToString(inv),
            ["learning_rate"] = o.LearningRate.ToString("R", inv),
            ["warmup_steps"] = o.WarmupSteps.ToString(inv),
            ["min_lr_ratio"] = o.MinLrRatio.ToString("R", inv),
            ["weight_decay"] = o.WeightDecay.ToString("R", inv),
            ["clip_norm"] = o.ClipNorm.ToString("R", inv),
            ["seed"] = o.Seed.ToString(inv),
            ["model"] = $"{model.Config.ModelType}, {model.ParameterCount().ToString(inv)} parameters in {model.NamedParameters().Count()} tensors",
        };
    }

    /// <summary>metrics.jsonl: a first line {"step": 0, "run": {...}} with the settings, the steps and the code version, then
    /// one JSON object per step and per validation (snake_case, a non-finite number as null); on resume, lines past the
    /// checkpoint are dropped.</summary>
    private sealed class MetricsLog
    {
        private readonly string _path;

        public MetricsLog(string path, long resumedAt, IReadOnlyDictionary<string, string> settings, long steps)
        {
            _path = path;
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            if (resumedAt == 0)
            {
                var run = new JsonObject { ["steps"] = steps, ["code_version"] = JsonReports.CodeVersion };
                foreach (var (k, v) in settings) run[k] = v;
                File.WriteAllText(path, new JsonObject { ["step"] = 0, ["run"] = run }.ToJsonString() + "\n");
                return;
            }
            if (!File.Exists(path)) return;
            var keep = File.ReadAllLines(path).Where(l =>
            {
                try { using var d = JsonDocument.Parse(l); return d.RootElement.GetProperty("step").GetInt64() <= resumedAt; }
                catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException) { return false; }
            });
            File.WriteAllLines(path, keep);
        }

        public void Step(long step, double loss, float lr, double tps, IReadOnlyDictionary<string, double> terms)
        {
            var t = new JsonObject();
            foreach (var (k, v) in terms) t[k] = JsonReports.Number(v);
            Append(new JsonObject
            {
                ["step"] = step, ["loss"] = JsonReports.Number(loss), ["lr"] = JsonReports.Number(lr),
                ["tokens_per_second"] = JsonReports.Number(Math.Round(tps, 1)), ["terms"] = t,
            });
        }

        public void Validation(long step, ValidationResult r, bool best) =>
            Append(new JsonObject { ["step"] = step, ["validation"] = new JsonObject { ["metric"] = r.Metric, ["value"] = JsonReports.Number(r.Value), ["best"] = best } });

        private void Append(JsonObject line) => File.AppendAllText(_path, JsonReports.Finite(line)!.ToJsonString() + "\n");
    }
}
