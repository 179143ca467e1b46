namespace BitDistill.Autograd;

/// <summary>Notices from the backward pass: a leaf's gradient is final for this backward once every op that used the leaf
/// has passed its gradient back (the traversal visits it once, after them), so data-parallel training can start summing a
/// bucket of gradients over the ranks while the backward goes on through the earlier layers.</summary>
public static class BackwardHooks
{
    [ThreadStatic] private static Action<Variable>? _leafReady;

    /// <summary>Calls <paramref name="hook"/> for each leaf whose gradient became final in backward passes run on this thread
    /// until the returned scope is disposed.</summary>
    public static IDisposable OnLeafGradientReady(Action<Variable> hook)
    {
        var previous = _leafReady;
        _leafReady = hook;
        return new Scope(previous);
    }

    internal static void LeafReady(Variable v) => _leafReady?.Invoke(v);

    private sealed class Scope(Action<Variable>? previous) : IDisposable
    {
        public void Dispose() => _leafReady = previous;
    }
}
