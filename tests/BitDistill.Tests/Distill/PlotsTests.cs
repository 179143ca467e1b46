using BitDistill.Distill.Reports;

namespace BitDistill.Tests.Distill;

/// <summary>Training-curve plots: the smoothing that makes noisy loss curves readable, and the PNG they are written to.</summary>
public class PlotsTests
{
    [Fact]
    public void SmoothingStartsAtTheFirstValueAndKeepsAConstantCurve()
    {
        var s = Plots.Smooth(Enumerable.Repeat(3.5, 100).ToArray());
        Assert.All(s, v => Assert.Equal(3.5, v, 12));
        Assert.Equal(7.0, Plots.Smooth([7.0, 1.0, 1.0])[0], 12); // debiased: no pull towards 0
    }

    [Fact]
    public void SmoothingDampsNoiseAndFollowsAStep()
    {
        var r = new Random(1);
        var y = Enumerable.Range(0, 400).Select(i => (i < 200 ? 5.0 : 2.0) + (r.NextDouble() - 0.5)).ToArray();
        var s = Plots.Smooth(y);
        double rawJitter = Enumerable.Range(1, 150).Average(i => Math.Abs(y[i] - y[i - 1]));
        double smoothJitter = Enumerable.Range(1, 150).Average(i => Math.Abs(s[i] - s[i - 1]));
        Assert.True(smoothJitter < rawJitter / 5, $"smoothed jitter {smoothJitter} vs raw {rawJitter}");
        Assert.InRange(s[399], 1.8, 2.2);
    }

    [Fact]
    public void SmoothingSkipsNonFiniteValues()
    {
        var s = Plots.Smooth([1.0, double.NaN, double.PositiveInfinity, 1.0]);
        Assert.All(s, v => Assert.Equal(1.0, v, 12));
        Assert.True(double.IsNaN(Plots.Smooth([double.NaN, 2.0])[0]));
    }

    [Fact]
    public void TrainingCurvesWriteAPngWithoutLeavingTheTemporaryFile()
    {
        var dir = Directory.CreateTempSubdirectory("bitdistill-plot-").FullName;
        try
        {
            var path = Path.Combine(dir, "loss.png");
            double[] x = [.. Enumerable.Range(1, 60).Select(i => (double)i)];
            Plots.TrainingCurves(path, "loss", "step", "loss", [("train", x, x.Select(v => 5 / v).ToArray())],
                [("validation", [20.0, 40.0, 60.0], [0.4, 0.2, 0.1])]);
            var bytes = File.ReadAllBytes(path);
            Assert.True(bytes.Length > 1000);
            Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], bytes[..4]);
            Assert.Single(Directory.GetFiles(dir));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void FourteenSeriesGetFourteenDistinctColours()
    {
        var palette = Plots.Palette(14);
        Assert.Equal(14, Enumerable.Range(0, 14).Select(i => palette.GetColor(i).ARGB).Distinct().Count());
        Assert.Equal(10, Enumerable.Range(0, 10).Select(i => Plots.Palette(10).GetColor(i).ARGB).Distinct().Count());
    }

    [Fact]
    public void ALogPlotLeavesOutZerosAndStillWritesAPng()
    {
        var dir = Directory.CreateTempSubdirectory("bitdistill-plot-").FullName;
        try
        {
            var path = Path.Combine(dir, "flip.png");
            Plots.Lines(path, "flips", "step", "share", [("a", [5.0, 10.0, 15.0], [0.3, 0.01, 0.0]), ("b", [5.0], [0.0])], logY: true);
            Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], File.ReadAllBytes(path)[..4]);
            Plots.Lines(path, "flips", "step", "share", [("within one decade", [2.0, 4.0, 6.0], [0.013, 0.014, 0.004])], logY: true);
            Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], File.ReadAllBytes(path)[..4]);
            Assert.Single(Directory.GetFiles(dir));
        }
        finally { Directory.Delete(dir, true); }
    }
}
