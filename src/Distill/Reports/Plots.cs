namespace BitDistill.Distill.Reports;

/// <summary>PNG plots of training curves and comparisons (ScottPlot).</summary>
public static class Plots
{
    /// <summary>Writes a line plot of one or more series (x, y) to a PNG file (temporary name, then rename).</summary>
    public static void Lines(string path, string title, string xLabel, string yLabel, IEnumerable<(string label, IReadOnlyList<double> x, IReadOnlyList<double> y)> series, bool logY = false)
    {
        var plt = new ScottPlot.Plot();
        foreach (var (label, x, y) in series)
        {
            if (x.Count == 0) continue;
            var ys = logY ? y.Select(v => Math.Log10(Math.Max(v, 1e-12))).ToArray() : y.ToArray();
            var s = plt.Add.Scatter(x.ToArray(), ys);
            s.LegendText = label;
            s.MarkerSize = x.Count > 50 ? 0 : 4;
        }
        plt.Title(title);
        plt.XLabel(xLabel);
        plt.YLabel(logY ? $"log10 {yLabel}" : yLabel);
        plt.ShowLegend(ScottPlot.Edge.Right); // outside the data area, so it never covers a curve
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, "." + Path.GetFileName(path) + ".tmp.png");
        plt.SavePng(tmp, 900, 500);
        File.Move(tmp, path, overwrite: true);
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
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, "." + Path.GetFileName(path) + ".tmp.png");
        plt.SavePng(tmp, 900, 500);
        File.Move(tmp, path, overwrite: true);
    }
}
