using BitDistill.Cli;

namespace BitDistill.Tests.Cli;

/// <summary>Runs the bitdistill command in-process with stdout and stderr captured (callers are in the Serial collection,
/// since Console is process-wide).</summary>
internal static class CliRunner
{
    /// <summary>Exit code, stdout and stderr of <c>bitdistill args…</c>.</summary>
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        var (o, e) = (new StringWriter(), new StringWriter());
        var (oldOut, oldErr) = (Console.Out, Console.Error);
        Console.SetOut(o); Console.SetError(e);
        try { return (Program.Main(args), o.ToString(), e.ToString()); }
        finally { Console.SetOut(oldOut); Console.SetError(oldErr); }
    }
}
