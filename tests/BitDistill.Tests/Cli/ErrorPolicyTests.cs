using BitDistill.Cli;
using BitDistill.Models;

namespace BitDistill.Tests.Cli;

/// <summary>The CLI's one error policy: one line "bitdistill VERB: message" on stderr, exit code 2 for bad input and 1 for
/// other failures, a stack trace only with --verbose; every verb goes through it.</summary>
[Collection("Serial")]
public class ErrorPolicyTests
{
    private static (int code, string stdout, string stderr) RunMain(params string[] args)
    {
        var (o, e) = (new StringWriter(), new StringWriter());
        var (oldOut, oldErr) = (Console.Out, Console.Error);
        Console.SetOut(o); Console.SetError(e);
        try { return (Program.Main(args), o.ToString(), e.ToString()); }
        finally { Console.SetOut(oldOut); Console.SetError(oldErr); }
    }

    [Theory]
    [InlineData("inspect", "/nonexistent/model")]
    [InlineData("generate", "--model", "/nonexistent/model", "--prompt-ids", "1")]
    [InlineData("quantize", "--model", "/nonexistent/model", "--method", "gptq", "--calibration", "/nonexistent/c.txt")]
    [InlineData("quantize", "--model", "/nonexistent/model", "--method", "magic", "--calibration", "/nonexistent/c.txt")]
    [InlineData("pretrain", "--output", "/tmp/bitdistill-never", "--tokenizer", "/nonexistent/tokenizer.json")]
    [InlineData("tokenize", "--tokenizer", "/nonexistent/tokenizer.json", "--jsonl", "-")]
    [InlineData("bench", "--threads", "0,x")]
    [InlineData("generate", "--model", "{fixture}", "--prompt-ids", "1,2", "--max-new-tokens", "2147483647", "--json")]
    public void BadInputIsOneLineWithExitCode2(params string[] args)
    {
        args = args.Select(a => a.Replace("{fixture}", TestUtil.FixturePath("qwen", "qwen3-tied"))).ToArray();
        var (code, _, stderr) = RunMain(args);
        Assert.Equal(ErrorPolicy.BadInput, code);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith($"bitdistill {args[0]}: ", lines[0]);
        Assert.DoesNotContain("   at ", stderr);
    }

    [Theory]
    [InlineData("cuda", "CUDA")]
    [InlineData("opencl", "OpenCL")]
    public void AnAbsentDeviceIsOneLineNamingWhatIsMissing(string device, string named)
    {
        try { using var _ = BitDistill.Tensors.Device.UseDefault(device == "cuda" ? BitDistill.Backends.Ilgpu.IlgpuDevices.Cuda() : BitDistill.Backends.Ilgpu.IlgpuDevices.OpenCL()); return; } // present here: nothing to check
        catch (BitDistill.Backends.Ilgpu.IlgpuDeviceUnavailableException) { }
        var output = Path.Combine(Path.GetTempPath(), "bitdistill-no-device-" + Guid.NewGuid().ToString("N"));
        var (code, _, stderr) = RunMain("pretrain", "--output", output, "--device", device);
        Assert.NotEqual(0, code);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith($"bitdistill pretrain: --device {device}: no ", lines[0]);
        Assert.Contains(named, lines[0]);
        Assert.False(Directory.Exists(output)); // refused before any work
    }

    [Fact]
    public void AFolderGivenAsADataFileIsNamedAsAFolder()
    {
        var dir = Path.GetTempPath().TrimEnd('/');
        var (code, _, stderr) = RunMain("pretrain", "--output", "/tmp/bitdistill-never", "--corpus", dir);
        Assert.Equal(ErrorPolicy.BadInput, code);
        Assert.Equal($"bitdistill pretrain: corpus file '{dir}' is a folder; give a file", stderr.Trim());
    }

    [Fact]
    public void VerboseAddsTheStackTrace()
    {
        var (code, _, stderr) = RunMain("inspect", "/nonexistent/model", "--verbose");
        Assert.Equal(ErrorPolicy.BadInput, code);
        Assert.StartsWith("bitdistill inspect: ", stderr);
        Assert.Contains("   at ", stderr);
    }

    [Fact]
    public void FailuresThatAreNotBadInputExitWith1()
    {
        var o = new StringWriter(); var e = new StringWriter();
        Assert.Equal(ErrorPolicy.Failure, ErrorPolicy.Run("x", () => throw new InvalidOperationException("training diverged"), o, e));
        Assert.Equal("bitdistill x: training diverged", e.ToString().Trim());
        Assert.Equal(ErrorPolicy.BadInput, ErrorPolicy.Run("x", () => throw new AggregateException(new ModelConfigException("c.json", "vocab_size", "must be positive")), o, e = new StringWriter()));
        Assert.Contains("vocab_size", e.ToString());
    }
}
