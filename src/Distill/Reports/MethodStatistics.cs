using MathNet.Numerics.Distributions;

namespace BitDistill.Distill.Reports;

/// <summary>Mean and a 95% Student-t confidence interval over seeds (one seed: the interval is the value itself).</summary>
public static class MethodStatistics
{
    /// <summary>(mean, [lo, hi]) of <paramref name="values"/>.</summary>
    public static (double Mean, double Lo, double Hi) MeanCi95(IReadOnlyList<double> values)
    {
        if (values.Count == 0) throw new ArgumentException("no values");
        double mean = values.Average();
        if (values.Count == 1) return (mean, mean, mean);
        double sd = Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1));
        double half = StudentT.InvCDF(0, 1, values.Count - 1, 0.975) * sd / Math.Sqrt(values.Count);
        return (mean, mean - half, mean + half);
    }
}
