using System.Diagnostics;
using System.Globalization;
using BitDistill.Autograd;
using BitDistill.Distill.Data;
using BitDistill.Distill.Evaluation;
using BitDistill.Distill.Objectives;
using BitDistill.Models;
using BitDistill.Tensors;

namespace BitDistill.Distill.Training;

/// <summary>Trains a causal LM with AdamW (no decay on norms, biases and embeddings), warm-up + cosine schedule, global-norm
/// clipping and gradient accumulation; shows progress (loss, tokens/s, ETA); evaluates validation perplexity; writes
/// checkpoints atomically and resumes from the last one, ending with the same weights as an uninterrupted run.</summary>
public static class CausalLmTrainer
{
    /// <summary>Parameter groups: weight decay on matrices only.</summary>
    public static ParamGroup[] DecayGroups(Module model, float weightDecay)
    {
        var ps = model.NamedParameters().ToArray();
        static bool NoDecay(string n) => n.Contains("norm", StringComparison.Ordinal) || n.EndsWith(".bias", StringComparison.Ordinal) || n.Contains("embed_tokens", StringComparison.Ordinal);
        var seen = new HashSet<Variable>(ReferenceEqualityComparer.Instance);
        var decay = ps.Where(p => !NoDecay(p.Name) && seen.Add(p.Param)).Select(p => p.Param).ToArray();
        var rest = ps.Where(p => NoDecay(p.Name) && seen.Add(p.Param)).Select(p => p.Param).ToArray();
        return [new ParamGroup(decay, WeightDecay: weightDecay), new ParamGroup(rest, WeightDecay: 0f)];
    }

    /// <summary>Runs (or resumes) training for <see cref="TrainingOptions.Steps"/> optimizer steps.</summary>
    public static TrainingHistory Train(CausalLanguageModel model, TokenDataset train, TokenDataset? valid, TrainingOptions o, ITrainingObjective? objective = null)
    {
        if (o.Steps <= 0) throw new ArgumentOutOfRangeException(nameof(o), o.Steps, "Steps must be positive");
        objective ??= new CausalLmObjective();
        var opt = new AdamW(DecayGroups(model, o.WeightDecay), lr: o.LearningRate, weightDecay: o.WeightDecay);
        var schedule = new LrSchedule.WarmupCosine(o.WarmupSteps, o.Steps, o.MinLrRatio);
        var history = new TrainingHistory();
        long start = 0;
        if (o.CheckpointDir is not null && TrainingCheckpoint.TryResume(o.CheckpointDir, model, opt, history, out start))
        {
            history.Resumed = true;
            o.Log?.WriteLine($"[{o.Name}] resumed from {Path.Combine(o.CheckpointDir, TrainingCheckpoint.FolderName)} at step {start}");
        }
        long tokensPerStep = (long)o.BatchSize * o.SeqLen * o.GradAccumulation;
        var sw = Stopwatch.StartNew();
        long stepsTimed = 0;
        model.Train();
        for (long step = start; step < o.Steps; step++)
        {
            double loss = 0;
            using (var scope = TensorScope.Begin())
            {
                opt.ZeroGrad();
                for (int micro = 0; micro < o.GradAccumulation; micro++)
                {
                    var (x, y) = train.RandomBatch(o.BatchSize, o.SeqLen, o.Seed, step * o.GradAccumulation + micro);
                    var l = objective.Compute(model, new TrainingBatch(x, y)).Loss;
                    loss += l.Item() / o.GradAccumulation;
                    (o.GradAccumulation == 1 ? l : l * (1f / o.GradAccumulation)).Backward();
                }
                Optimizer.ClipGradNorm(opt.Params, o.ClipNorm);
                opt.Lr = (float)(o.LearningRate * schedule.Factor(step));
                opt.Step();
            }
            if (!double.IsFinite(loss)) throw new InvalidOperationException($"[{o.Name}] loss became {loss} at step {step}; lower the learning rate");
            history.Loss.Add((step + 1, loss));
            stepsTimed++;
            o.OnStep?.Invoke(step + 1);
            double tps = tokensPerStep * stepsTimed / sw.Elapsed.TotalSeconds;
            history.TokensPerSecond = tps;
            if (o.Log is not null && ((step + 1) % o.LogEvery == 0 || step + 1 == o.Steps || step == start))
            {
                var eta = TimeSpan.FromSeconds((o.Steps - step - 1) * tokensPerStep / Math.Max(1, tps));
                o.Log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"[{o.Name}] step {step + 1}/{o.Steps} | loss {loss:F4} | lr {opt.Lr:E2} | {tps / 1000:F1}k tok/s | ETA {eta:mm\\:ss}"));
            }
            if (valid is not null && o.EvalEvery > 0 && (step + 1) % o.EvalEvery == 0 && step + 1 < o.Steps)
                Evaluate(model, valid, o, history, step + 1);
            if (o.CheckpointDir is not null && ((step + 1) % o.CheckpointEvery == 0 || step + 1 == o.Steps))
                TrainingCheckpoint.Save(o.CheckpointDir, model, opt, history, step + 1);
        }
        history.StepsDone = o.Steps;
        if (valid is not null && (history.Validation.Count == 0 || history.Validation[^1].Step != o.Steps)) Evaluate(model, valid, o, history, o.Steps);
        return history;
    }

    private static void Evaluate(CausalLanguageModel model, TokenDataset valid, TrainingOptions o, TrainingHistory h, long step)
    {
        double ppl = Perplexity.Compute(model, valid, o.SeqLen, o.EvalWindows, o.BatchSize);
        h.Validation.Add((step, ppl));
        o.Log?.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{o.Name}] step {step}: validation perplexity {ppl:F2}"));
        model.Train();
    }

}
