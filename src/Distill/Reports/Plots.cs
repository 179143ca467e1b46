using BitDistill.Tensors;
namespace BitDistill.Distill.Reports;

/// <summary>PNG plots of training curves and comparisons (ScottPlot).</summary>
public static class Plots
{
    /// <summary>Writes a line plot of one or more series (x, y) to a PNG file (temporary name, then rename).</summary>
    public static void Lines(string path, string title, string xLabel, string yLabel, IEnumerable<(string label, IReadOnlyList<double> x, IReadOnlyList<double> y)> series, bool logY = false)
    {
        var plt = new ScottPlot.Plot();
        var all = series.Where(s => s.x.Count > 0).ToArray();
        var palette = Palette(all.Length);
        var logs = new List<double>();
        for (int i = 0; i < all.Length; i++)
        {
            var (label, x, y) = all[i];
            // on a log axis a zero (or negative) value has no place: it is left out rather than drawn at an arbitrary floor
            var keep = Enumerable.Range(0, x.Count).Where(j => !logY || y[j] > 0).ToArray();
            var ys = keep.Select(j => logY ? Math.Log10(y[j]) : y[j]).ToArray();
            if (logY) logs.AddRange(ys.Where(double.IsFinite));
            var s = plt.Add.Scatter(keep.Select(j => x[j]).ToArray(), ys);
            s.LegendText = label;
            s.Color = palette.GetColor(i);
            s.MarkerSize = x.Count > 50 ? 0 : 4;
        }
        plt.Title(title);
        plt.XLabel(xLabel);
        plt.YLabel(logY ? $"{yLabel} (log scale)" : yLabel);
        if (logY && logs.Count > 0)
        {
            // the data are log10 values: label the ticks with the values themselves; across a decade or more, ticks at the
            // powers of ten with log-spaced minor ticks (within one decade that would leave no labelled tick)
            bool decades = logs.Max() - logs.Min() >= 1;
            var ticks = new ScottPlot.TickGenerators.NumericAutomatic
            {
                LabelFormatter = v => Math.Pow(10, v).ToString("G3", System.Globalization.CultureInfo.InvariantCulture),
                IntegerTicksOnly = decades,
            };
            if (decades) ticks.MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator();
            plt.Axes.Left.TickGenerator = ticks;
        }
        plt.ShowLegend(ScottPlot.Edge.Right); // outside the data area, so it never covers a curve
        AtomicFile.Write(path, tmp => plt.SavePng(tmp, 900, 500));
    }

    /// <summary>The colours of <paramref name="count"/> series: Category10, or Category20 when 10 colours would repeat (a
    /// <c>--paper</c> comparison draws 14 flip-rate curves).</summary>
    public static ScottPlot.IPalette Palette(int count) => count > 10 ? new ScottPlot.Palettes.Category20() : new ScottPlot.Palettes.Category10();

    /// <summary>Training curves: each series drawn raw (faint, thin) and smoothed (<see cref="Smooth"/>, full colour, labelled
    /// "(smoothed)"), so the trend is readable through step-to-step noise; optional <paramref name="points"/> series (e.g. the
    /// validation loss every N steps) are drawn as marked lines on the same axes. Written as <see cref="Lines"/> does.</summary>
    public static void TrainingCurves(string path, string title, string xLabel, string yLabel,
        IEnumerable<(string label, IReadOnlyList<double> x, IReadOnlyList<double> y)> series,
        IEnumerable<(string label, IReadOnlyList<double> x, IReadOnlyList<double> y)>? points = null)
    {
        var plt = new ScottPlot.Plot();
        var palette = new ScottPlot.Palettes.Category10();
        int i = 0;
        foreach (var (label, x, y) in series)
        {
            if (x.Count == 0) continue;
            var color = palette.GetColor(i++);
            var raw = plt.Add.Scatter(x.ToArray(), y.ToArray());
            raw.Color = color.WithAlpha(0.25);
            raw.LineWidth = 1;
            raw.MarkerSize = 0;
            var smooth = plt.Add.Scatter(x.ToArray(), Smooth(y));
            smooth.Color = color;
            smooth.LineWidth = 2;
            smooth.MarkerSize = 0;
            smooth.LegendText = x.Count > 2 ? label + " (smoothed)" : label;
        }
        foreach (var (label, x, y) in points ?? [])
        {
            if (x.Count == 0) continue;
            var s = plt.Add.Scatter(x.ToArray(), y.ToArray());
            s.Color = palette.GetColor(i++);
            s.MarkerSize = 6;
            s.LineWidth = 2;
            s.LegendText = label;
        }
        plt.Title(title);
        plt.XLabel(xLabel);
        plt.YLabel(yLabel);
        plt.ShowLegend(ScottPlot.Edge.Right);
        AtomicFile.Write(path, tmp => plt.SavePng(tmp, 900, 500));
    }

    /// <summary>Exponential moving average with TensorBoard's debiasing (the first values are not pulled towards 0), its
    /// weight chosen from the length so that about 1/20 of the curve is averaged: w = 1 − 20/n, clamped to [0, 0.98]. NaN
    /// and infinite values are skipped (they keep the previous average).</summary>
    public static double[] Smooth(IReadOnlyList<double> y)
    {
        double w = Math.Clamp(1 - 20.0 / Math.Max(1, y.Count), 0, 0.98);
        var r = new double[y.Count];
        double avg = 0, norm = 0, last = double.NaN;
        for (int i = 0; i < y.Count; i++)
        {
            if (double.IsFinite(y[i]))
            {
                avg = w * avg + (1 - w) * y[i];
                norm = w * norm + (1 - w);
                last = avg / norm;
            }
            r[i] = last;
        }
        return r;
    }

    /// <summary>A bar chart of named values (e.g. perplexities of several models), each bar labelled with its value; an
    /// optional symmetric error (e.g. half a confidence interval) is drawn as a whisker.</summary>
    public static void Bars(string path, string title, string yLabel, IReadOnlyList<(string label, double value)> bars, IReadOnlyList<double>? errors = null)
    {
        var plt = new ScottPlot.Plot();
        var items = bars.Select((b, i) => new ScottPlot.Bar
        {
            Position = i, Value = b.value, Error = errors is not null && double.IsFinite(errors[i]) ? errors[i] : 0,
            Label = b.value.ToString(Math.Abs(b.value) >= 100 ? "F0" : "F1", System.Globalization.CultureInfo.InvariantCulture),
        }).ToArray();
        var bp = plt.Add.Bars(items);
        bp.ValueLabelStyle.FontSize = 14;
        plt.Axes.Bottom.SetTicks(Enumerable.Range(0, bars.Count).Select(i => (double)i).ToArray(), bars.Select(b => b.label).ToArray());
        plt.Axes.Margins(bottom: 0);
        plt.Title(title);
        plt.YLabel(yLabel);
        AtomicFile.Write(path, tmp => plt.SavePng(tmp, 900, 500));
    }
}
