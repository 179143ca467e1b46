using System.Runtime.InteropServices;

namespace BitDistill.Cli;

/// <summary>Ctrl-C (SIGINT) and SIGTERM as a cancellation token for long verbs: the trainer checkpoints at the next step
/// boundary and stops cleanly instead of losing the steps since the last checkpoint. A second Ctrl-C ends the process.</summary>
public sealed class Interruption : IDisposable
{
    private readonly CancellationTokenSource _cts = new();
    private readonly PosixSignalRegistration? _term;
    private readonly ConsoleCancelEventHandler _handler;

    /// <summary>Starts listening.</summary>
    public Interruption()
    {
        _handler = (_, e) =>
        {
            if (_cts.IsCancellationRequested) return; // the second Ctrl-C terminates
            e.Cancel = true;
            Console.Error.WriteLine("interrupt: finishing the current step and writing a checkpoint (Ctrl-C again to stop now)");
            _cts.Cancel();
        };
        Console.CancelKeyPress += _handler;
        try { _term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; _cts.Cancel(); }); }
        catch (PlatformNotSupportedException) { _term = null; }
    }

    /// <summary>Cancelled on the first Ctrl-C or SIGTERM.</summary>
    public CancellationToken Token => _cts.Token;

    /// <summary>Stops listening.</summary>
    public void Dispose()
    {
        Console.CancelKeyPress -= _handler;
        _term?.Dispose();
        _cts.Dispose();
    }
}
