namespace BitDistill.Autograd;

/// <summary>The gradient all-reduce of data-parallel training overlapped with the backward pass. The first step reduces
/// after the backward (<see cref="DataParallel.AllReduceGradients"/>) and notes the order in which the root's parameter
/// gradients became final; from then on the parameters are laid out in that order in fixed buckets of about 4 MB, and
/// during the last backward of each step a bucket starts its sum over the ranks (<see cref="ICommunicator.StartAllReduceSum"/>)
/// as soon as all its gradients are final, while the backward continues through the earlier layers. Every rank starts the
/// buckets in the same order; the sums are the same element by element as without overlap.</summary>
public sealed class GradientBuckets
{
    private sealed record Bucket(float[] Buffer, int Count, (int Param, int Start, int Length, int At)[] Pieces, int[] Params);

    private readonly Variable[] _params;
    private readonly Dictionary<Variable, int> _index = new(ReferenceEqualityComparer.Instance);
    private readonly ICommunicator _comm;
    private readonly int _bucketElements;
    private readonly bool[] _ready;
    private readonly List<int> _order = new();
    private readonly List<(Bucket Bucket, ICollectiveRequest Request)> _inFlight = new();
    private Bucket[]? _buckets;
    private int _next;

    /// <summary>Buckets for <paramref name="parameters"/> over <paramref name="comm"/>.</summary>
    public GradientBuckets(IReadOnlyList<Variable> parameters, ICommunicator comm, int bucketElements = DataParallel.DefaultBucketElements)
    {
        if (bucketElements <= 0) throw new ArgumentOutOfRangeException(nameof(bucketElements), bucketElements, "must be positive");
        _params = parameters.ToArray();
        for (int i = 0; i < _params.Length; i++) _index[_params[i]] = i;
        _comm = comm;
        _bucketElements = bucketElements;
        _ready = new bool[_params.Length];
    }

    /// <summary>Number of buckets (0 until the first step has fixed the layout).</summary>
    public int Count => _buckets?.Length ?? 0;

    /// <summary>Buckets of the last step that started during its backward pass (the rest started after it).</summary>
    public int StartedDuringBackward { get; private set; }

    /// <summary>Watches the backward passes run until the scope is disposed (the step's last one): buckets whose gradients are
    /// final start their sums. Null with one process.</summary>
    public IDisposable? OverlapBackward()
    {
        if (_comm.Size == 1) return null;
        StartedDuringBackward = 0;
        Array.Clear(_ready);
        _order.Clear();
        return BackwardHooks.OnLeafGradientReady(OnReady);
    }

    private void OnReady(Variable v)
    {
        if (!_index.TryGetValue(v, out int i) || _ready[i]) return;
        _ready[i] = true;
        _order.Add(i);
        if (_buckets is null) return;
        while (_next < _buckets.Length && _buckets[_next].Params.All(p => _ready[p])) Start(_buckets[_next++]);
        if (_inFlight.Count > 0) _inFlight[0].Request.Test(); // Open MPI moves a collective forward only inside its calls
    }

    private void Start(Bucket b)
    {
        foreach (var (param, start, n, at) in b.Pieces)
            DataParallel.FlatGradient(_params[param]).Narrow(0, start, n).CopyToHost<float>(b.Buffer.AsSpan(at, n));
        _inFlight.Add((b, _comm.StartAllReduceSum(b.Buffer, b.Count)));
        StartedDuringBackward++;
    }

    /// <summary>Completes the step's all-reduce: starts the buckets not started yet (a rank without a gradient for a parameter
    /// sends zeros), waits for all and writes the sums into the gradients.</summary>
    public void Finish()
    {
        if (_comm.Size == 1) return;
        if (_buckets is null)
        {
            DataParallel.AllReduceGradients(_params, _comm, _bucketElements);
            _buckets = Layout();
            StartedDuringBackward = 0;
            return;
        }
        int before = StartedDuringBackward;
        while (_next < _buckets.Length) Start(_buckets[_next++]);
        StartedDuringBackward = before;
        foreach (var (b, request) in _inFlight)
        {
            request.Wait();
            foreach (var (param, start, n, at) in b.Pieces)
                DataParallel.FlatGradient(_params[param]).Narrow(0, start, n).CopyFromHost<float>(b.Buffer.AsSpan(at, n));
        }
        _inFlight.Clear();
        _next = 0;
    }

    // The root's order of final gradients (sent to every rank, so all lay out the same buckets), then any parameter that had
    // a gradient elsewhere; parameters without a gradient anywhere stay out (they keep none, as without data parallelism).
    private Bucket[] Layout()
    {
        var order = new float[_params.Length];
        Array.Fill(order, -1);
        if (_comm.Rank == 0) for (int k = 0; k < _order.Count; k++) order[k] = _order[k];
        _comm.Broadcast(order, 0);
        var layout = order.Where(x => x >= 0).Select(x => (int)x).Where(i => _params[i].Grad is not null).ToList();
        var seen = layout.ToHashSet();
        layout.AddRange(Enumerable.Range(0, _params.Length).Where(i => _params[i].Grad is not null && !seen.Contains(i)));
        var buckets = new List<Bucket>();
        var pieces = new List<(int, int, int, int)>();
        int used = 0;
        void Close()
        {
            if (used == 0) return;
            buckets.Add(new Bucket(new float[used], used, pieces.ToArray(), pieces.Select(p => p.Item1).Distinct().ToArray()));
            pieces.Clear();
            used = 0;
        }
        foreach (int i in layout)
            for (int start = 0, count = _params[i].Value.Count; start < count;)
            {
                int n = Math.Min(count - start, _bucketElements - used);
                pieces.Add((i, start, n, used));
                used += n; start += n;
                if (used == _bucketElements) Close();
            }
        Close();
        return buckets.ToArray();
    }
}
