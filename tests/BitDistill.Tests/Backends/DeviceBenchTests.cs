using System.Text.Json;
using BitDistill.Cli;
using BitDistill.Tests.Cli;

namespace BitDistill.Tests.Backends;

/// <summary>`bitdistill bench device` runs every measurement unattended on ILGPU's emulator (at --quick sizes) and writes
/// one row per measurement with the CPU's and the device's numbers; an absent GPU is a one-line error.</summary>
public class DeviceBenchTests
{
    [Fact]
    public void TheQuickBenchMeasuresEveryRowOnTheEmulatorAndTheCpu()
    {
        string json = Path.Combine(Path.GetTempPath(), $"bench-device-{Guid.NewGuid():N}.json");
        try
        {
            var stdout = new StringWriter();
            Assert.Equal(0, DeviceBench.Run(IlgpuTestDevice.Device, quick: true, json, stdout));
            Assert.Contains("| measurement | unit | CPU | device | device ÷ CPU |", stdout.ToString());
            var rows = JsonDocument.Parse(File.ReadAllText(json)).RootElement.EnumerateArray().ToArray();
            Assert.Equal(5, rows.Length);
            Assert.Equal(["TFLOP/s", "GB/s", "steps/s", "steps/s", "tokens/s"], rows.Select(r => r.GetProperty("unit").GetString()));
            foreach (var r in rows)
            {
                double cpu = r.GetProperty("cpu").GetDouble(), dev = r.GetProperty("device").GetDouble();
                Assert.True(cpu > 0 && double.IsFinite(cpu) && dev > 0 && double.IsFinite(dev), $"{r.GetProperty("metric")}: CPU {cpu}, device {dev}");
                Assert.Equal(dev / cpu, r.GetProperty("ratio").GetDouble(), 1e-9);
            }
            Assert.StartsWith("ilgpu-cpu", rows[0].GetProperty("device_name").GetString());
        }
        finally { File.Delete(json); }
    }

    [Fact]
    public void AbsentGpusAndBadOptionsAreOneLineErrors()
    {
        if (File.Exists("/dev/nvidia0")) return; // a machine with a GPU runs the bench instead
        var (code, _, err) = CliRunner.Run("bench", "device", "--device", "cuda", "--quick");
        Assert.Equal(1, code);
        Assert.Equal("bitdistill bench device: --device cuda: no CUDA GPU found (ILGPU needs an NVIDIA GPU and its driver, libcuda.so)", err.Trim());
        (code, _, err) = CliRunner.Run("bench", "device", "--device", "tpu");
        Assert.NotEqual(0, code);
        Assert.Single(err.Trim().Split('\n'));
        (code, _, err) = CliRunner.Run("bench", "device", "--device", "emulator", "--json", "/nonexistent-dir/x.json");
        Assert.Equal(2, code);
        Assert.Contains("--json: folder /nonexistent-dir does not exist", err);
        (code, _, err) = CliRunner.Run("bench", "device", "--device", "emulator", "--json", Path.GetTempPath());
        Assert.Equal(2, code);
        Assert.Contains("is a folder; give a file name", err);
    }
}
