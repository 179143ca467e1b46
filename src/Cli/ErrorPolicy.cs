using System.CommandLine;
using System.Text.Json;
using BitDistill.Backends.Ilgpu;
using BitDistill.Kernels;
using BitDistill.Models;
using BitDistill.Models.Tokenization;
using BitDistill.Runtime;
using BitDistill.Tensors;
using BitDistill.Tensors.SafeTensors;

namespace BitDistill.Cli;

/// <summary>The one error policy of every verb: an exception becomes one line on stderr, "bitdistill VERB: message", with
/// exit code 2 when the input was bad (an option, a path, a malformed file — the message names it) and 1 when the work
/// failed; a stack trace is printed only with --verbose.</summary>
public static class ErrorPolicy
{
    /// <summary>Exit code of a run whose input was bad.</summary>
    public const int BadInput = 2;
    /// <summary>Exit code of a run that failed for another reason.</summary>
    public const int Failure = 1;

    /// <summary>The global --verbose option (print stack traces of errors).</summary>
    public static Option<bool> Verbose { get; } = new("--verbose") { Description = "print the stack trace of an error", Recursive = true };

    /// <summary>The --threads option of every verb that computes (added to them by <see cref="Program.CreateRoot"/>).</summary>
    public static Option<int?> Threads { get; } = CreateThreads();

    /// <summary>The most --threads accepted (far above any core count; a larger number is a typo).</summary>
    public const int MaxThreads = 1024;

    private static Option<int?> CreateThreads()
    {
        var o = new Option<int?>("--threads") { Description = "threads the kernels split work into (default: all cores); results are bitwise the same run after run at a given count" };
        o.Validators.Add(r => { if (r.GetValueOrDefault<int?>() is (< 1 or > MaxThreads) and var t) r.AddError($"--threads must be between 1 and {MaxThreads}, got {t}"); });
        return o;
    }

    /// <summary>The kernel context --threads asks for, or null when it is not given (or not an option of this verb).</summary>
    public static KernelContext.Scope? ThreadScope(ParseResult parse) =>
        parse.GetResult(Threads) is not null && parse.GetValue(Threads) is int t ? KernelContext.Override(degreeOfParallelism: t) : null;

    /// <summary>The --device option of the verbs that train or evaluate models (added to them by <see cref="Program.CreateRoot"/>).</summary>
    public static Option<string> DeviceOption { get; } = CreateDevice();

    private static Option<string> CreateDevice()
    {
        var o = new Option<string>("--device")
        {
            Description = "where tensors live and kernels run: cpu (default), cuda (the first NVIDIA GPU) or opencl (the first OpenCL 2.0 device), through ILGPU; emulator (ILGPU's CPU accelerator: very slow, for checking that a run works on a device without one)",
            DefaultValueFactory = _ => "cpu",
        };
        o.AcceptOnlyFromAmong("cpu", "cuda", "opencl", "emulator");
        return o;
    }

    /// <summary>Makes the device --device names the default for new tensors on this thread, or null for the CPU (or when
    /// the verb has no --device). An absent CUDA or OpenCL device is an error naming what is missing.</summary>
    public static IDisposable? DeviceScope(ParseResult parse) =>
        parse.GetResult(DeviceOption) is null ? null : parse.GetValue(DeviceOption) switch
        {
            "cuda" => Device.UseDefault(IlgpuDevices.Cuda()),
            "opencl" => Device.UseDefault(IlgpuDevices.OpenCL()),
            "emulator" => Device.UseDefault(IlgpuDevices.SharedCpuEmulator),
            _ => null,
        };

    /// <summary>Runs a verb's body under the policy; <paramref name="parse"/> supplies --verbose, --threads and --device.</summary>
    public static int Run(string verb, ParseResult parse, Func<int> body)
    {
        using var threads = ThreadScope(parse);
        return Run(verb, () => { using var device = DeviceScope(parse); return body(); }, Console.Out, Console.Error, parse.GetValue(Verbose));
    }

    /// <summary>Runs a verb's body under the policy, writing errors to <paramref name="stderr"/>.</summary>
    public static int Run(string verb, Func<int> body, TextWriter stdout, TextWriter stderr, bool verbose = false)
    {
        try
        {
            return body();
        }
        catch (Exception e)
        {
            stdout.Flush();
            var inner = e is AggregateException { InnerExceptions.Count: 1 } a ? a.InnerExceptions[0] : e;
            stderr.WriteLine($"bitdistill {verb}: {inner.Message.ReplaceLineEndings(" ")}");
            if (verbose) stderr.WriteLine(e.ToString());
            return ExitCode(inner);
        }
    }

    /// <summary>2 for the exceptions that describe bad input, 130 for an interruption (as shells report SIGINT), 1 for the rest.</summary>
    public static int ExitCode(Exception e) => e is OperationCanceledException ? 130 : e is UsageException or ModelConfigException or CheckpointException or RuntimeModelException
        or SafeTensorsFormatException or TokenizerFormatException or FileNotFoundException or DirectoryNotFoundException
        or InvalidDataException or JsonException or FormatException or ArgumentException
        ? BadInput : Failure;
}
