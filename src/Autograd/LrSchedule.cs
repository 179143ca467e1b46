namespace BitDistill.Autograd;

/// <summary>Learning-rate schedules as multipliers of the base rate at a 0-based step (LambdaLR semantics: step s is the
/// s-th update).</summary>
public abstract record LrSchedule
{
    /// <summary>Multiplier at step s.</summary>
    public abstract double Factor(long step);

    /// <summary>Constant rate.</summary>
    public sealed record Constant : LrSchedule { public override double Factor(long step) => 1; }

    /// <summary>Linear warm-up for <paramref name="Warmup"/> steps, then cosine decay to <paramref name="MinRatio"/> at
    /// <paramref name="Total"/> (Hugging Face get_cosine_schedule_with_warmup when MinRatio = 0).</summary>
    public sealed record WarmupCosine(long Warmup, long Total, double MinRatio = 0) : LrSchedule
    {
        public override double Factor(long s)
        {
            if (s < Warmup) return (double)s / Math.Max(1, Warmup);
            double progress = (double)(s - Warmup) / Math.Max(1, Total - Warmup);
            return Math.Max(0, MinRatio + (1 - MinRatio) * 0.5 * (1 + Math.Cos(Math.PI * Math.Min(1, progress))));
        }
    }

    /// <summary>Linear warm-up then linear decay to 0 at Total (get_linear_schedule_with_warmup).</summary>
    public sealed record WarmupLinear(long Warmup, long Total) : LrSchedule
    {
        public override double Factor(long s) => s < Warmup ? (double)s / Math.Max(1, Warmup) : Math.Max(0, (double)(Total - s) / Math.Max(1, Total - Warmup));
    }
}
