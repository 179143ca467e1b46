using BitDistill.Models;
using BitDistill.Models.BitNet;

namespace BitDistill.Distill.Training;

/// <summary>The share of ternary weights that changed value (−1/0/+1) every <paramref name="every"/> steps, over all
/// BitLinear layers of a model: the paper argues that continued pre-training (stage 2) lets weights flip more easily than
/// task fine-tuning. Hook <see cref="OnStep"/> into <see cref="TrainingOptions.OnStep"/>; one tracker per stage.</summary>
public sealed class FlipRateTracker(CausalLanguageModel model, string stage, int every = 10)
{
    private bool _started;

    /// <summary>The stage's name (for plots).</summary>
    public string Stage { get; } = stage;

    /// <summary>(step, share of all ternary weights that flipped since the previous sample).</summary>
    public List<(long Step, double FlipRate)> Samples { get; } = new();

    /// <summary>Takes the first snapshot (call before training; the trainer's first step then has a baseline).</summary>
    public void Start()
    {
        TernaryDiagnostics.Snapshot(model);
        _started = true;
    }

    /// <summary>Samples the flip rate every <c>every</c> steps.</summary>
    public void OnStep(long step)
    {
        if (!_started) Start();
        if (every <= 0 || step % every != 0) return;
        var stats = TernaryDiagnostics.Snapshot(model);
        long total = 0; double flipped = 0;
        foreach (var (s, layer) in stats.Zip(Refiner.BitLinears(model)))
        {
            long n = (long)layer.Layer.InFeatures * layer.Layer.OutFeatures;
            total += n; flipped += s.FlipRate * n;
        }
        Samples.Add((step, total == 0 ? 0 : flipped / total));
    }
}
