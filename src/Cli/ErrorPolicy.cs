using System.CommandLine;
using System.Text.Json;
using BitDistill.Models;
using BitDistill.Models.Tokenization;
using BitDistill.Runtime;
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

    /// <summary>Runs a verb's body under the policy; <paramref name="parse"/> supplies --verbose.</summary>
    public static int Run(string verb, ParseResult parse, Func<int> body) =>
        Run(verb, body, Console.Out, Console.Error, parse.GetValue(Verbose));

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
