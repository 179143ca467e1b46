namespace BitDistill.Autograd;

/// <summary>Switches gradient recording off for the current thread while the returned object is alive.</summary>
public static class GradMode
{
    [ThreadStatic] private static int _disabled;

    /// <summary>True when operations record the graph.</summary>
    public static bool IsEnabled => _disabled == 0;

    /// <summary>using (GradMode.NoGrad()) { … } — no graph is built inside.</summary>
    public static IDisposable NoGrad() { _disabled++; return new Restore(); }

    private sealed class Restore : IDisposable
    {
        private bool _done;
        public void Dispose() { if (!_done) { _done = true; _disabled--; } }
    }
}
