using BitDistill.Tensors;

namespace BitDistill.Autograd;

/// <summary>Data-parallel training over a group of processes: the process-wide <see cref="Communicator"/> (one process
/// unless the command line was launched under MPI), the gradient all-reduce over contiguous buckets, and the broadcast of
/// parameters from the root. Every rank holds the whole model and applies the same optimizer step to the same summed
/// gradients, so the replicas stay equal.</summary>
public static class DataParallel
{
    /// <summary>Gradient elements per all-reduce (4 MB of float32): big enough to amortise a collective's latency, small
    /// enough that the host staging buffer stays small.</summary>
    public const int DefaultBucketElements = 1 << 20;

    [ThreadStatic] private static float[]? _bucket; // per thread: tests run ranks as threads of one process

    /// <summary>The group this process trains in (<see cref="SingleProcess"/> unless set by the command line under MPI).</summary>
    public static ICommunicator Communicator { get; set; } = SingleProcess.Instance;

    /// <summary>Whether this process is the root (rank 0): it alone writes checkpoints, logs and plots.</summary>
    public static bool IsRoot => Communicator.Rank == 0;

    /// <summary>Sums the gradients of <paramref name="parameters"/> over the ranks in place, bucket by bucket (the loss of each
    /// micro-batch is already scaled by 1/(micro-batches per step over all ranks), so the sum is the mean gradient). A
    /// parameter that has a gradient on some rank gets one on every rank (zeros where it had none), so every rank then
    /// applies the same step; one without a gradient anywhere stays without.</summary>
    public static void AllReduceGradients(IReadOnlyList<Variable> parameters, ICommunicator comm, int bucketElements = DefaultBucketElements)
    {
        if (comm.Size == 1) return;
        if (bucketElements <= 0) throw new ArgumentOutOfRangeException(nameof(bucketElements), bucketElements, "must be positive");
        var has = new float[parameters.Count];
        for (int i = 0; i < has.Length; i++) has[i] = parameters[i].Grad is null ? 0 : 1;
        comm.AllReduceSum(has);
        var bucket = _bucket is { } b && b.Length >= bucketElements ? b : _bucket = new float[bucketElements];
        var pieces = new List<(Tensor Flat, int Start, int Length, int At)>();
        int used = 0;
        for (int i = 0; i < parameters.Count; i++)
        {
            if (has[i] == 0) continue;
            var p = parameters[i];
            var flat = FlatGradient(p);
            for (int start = 0; start < flat.Count;)
            {
                int n = Math.Min(flat.Count - start, bucketElements - used);
                flat.Narrow(0, start, n).CopyToHost<float>(bucket.AsSpan(used, n));
                pieces.Add((flat, start, n, used));
                used += n; start += n;
                if (used == bucketElements) { Flush(comm, bucket, pieces, used); used = 0; }
            }
        }
        if (used > 0) Flush(comm, bucket, pieces, used);
    }

    /// <summary>The gradient of <paramref name="p"/> as a contiguous 1-d float32 view; zeros when this rank has none (kept
    /// beyond the step's tensor scope, like every gradient).</summary>
    internal static Tensor FlatGradient(Variable p)
    {
        using (TensorScope.Suspend())
        {
            p.Grad ??= Tensor.Zeros(p.Value.ShapeArray, p.Value.DType, p.Value.Device);
            if (p.Grad.DType != DType.Float32) throw new NotSupportedException($"data-parallel training reduces float32 gradients; {p.Name} has a {p.Grad.DType} gradient");
            if (!p.Grad.IsContiguous) p.Grad = p.Grad.Contiguous();
        }
        return p.Grad.View(-1);
    }

    private static void Flush(ICommunicator comm, float[] bucket, List<(Tensor Flat, int Start, int Length, int At)> pieces, int used)
    {
        comm.AllReduceSum(bucket.AsSpan(0, used));
        foreach (var (flat, start, n, at) in pieces) flat.Narrow(0, start, n).CopyFromHost<float>(bucket.AsSpan(at, n));
        pieces.Clear();
    }

    /// <summary>Copies the values of <paramref name="parameters"/> from rank <paramref name="root"/> to every rank (a run starts
    /// from one replica even if the ranks built or loaded their models differently).</summary>
    public static void BroadcastParameters(IReadOnlyList<Variable> parameters, ICommunicator comm, int root = 0, int bucketElements = DefaultBucketElements)
    {
        if (comm.Size == 1) return;
        var bucket = _bucket is { } b && b.Length >= bucketElements ? b : _bucket = new float[bucketElements];
        foreach (var p in parameters)
        {
            if (p.Value.DType != DType.Float32) throw new NotSupportedException($"data-parallel training broadcasts float32 parameters; {p.Name} is {p.Value.DType}");
            if (!p.Value.IsContiguous) p.Value = p.Value.Contiguous();
            var flat = p.Value.View(-1);
            for (int start = 0; start < flat.Count; start += bucketElements)
            {
                int n = Math.Min(flat.Count - start, bucketElements);
                var piece = flat.Narrow(0, start, n);
                var host = bucket.AsSpan(0, n);
                if (comm.Rank == root) piece.CopyToHost<float>(host);
                comm.Broadcast(host, root);
                if (comm.Rank != root) piece.CopyFromHost<float>(host);
            }
            p.MarkChanged();
        }
    }

    /// <summary>Copies the file <paramref name="path"/> of rank <paramref name="root"/> to <paramref name="destination"/> on every
    /// other rank, in chunks (an optimizer state can be larger than an array); the root's file is left as it is.</summary>
    public static void BroadcastFile(string path, string destination, ICommunicator comm, int root = 0)
    {
        if (comm.Size == 1) return;
        var length = new double[] { comm.Rank == root ? new FileInfo(path).Length : 0 };
        comm.AllReduceSum(length); // only the root contributes
        var chunk = new byte[(int)Math.Min(64L << 20, Math.Max(1, (long)length[0]))];
        using var stream = comm.Rank == root ? File.OpenRead(path) : File.Create(destination);
        for (long at = 0, total = (long)length[0]; at < total; at += chunk.Length)
        {
            var part = chunk.AsSpan(0, (int)Math.Min(chunk.Length, total - at));
            if (comm.Rank == root) stream.ReadExactly(part);
            comm.Broadcast(part, root);
            if (comm.Rank != root) stream.Write(part);
        }
    }
}
