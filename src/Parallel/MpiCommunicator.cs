using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using BitDistill.Autograd;

namespace BitDistill.Parallel;

/// <summary>The MPI world (Open MPI) as an <see cref="ICommunicator"/>. Every collective is started non-blocking and polled
/// against a deadline: when another rank died or hangs, this rank prints one line saying so and aborts the whole job
/// (MPI_Abort) instead of waiting for ever. The deadline is BITDISTILL_MPI_TIMEOUT seconds (default 600: the root may
/// validate or write a checkpoint while the others wait).</summary>
public sealed unsafe class MpiCommunicator : ICommunicator, IDisposable
{
    /// <summary>The environment variable with the collective deadline in seconds.</summary>
    public const string TimeoutVariable = "BITDISTILL_MPI_TIMEOUT";

    private readonly OpenMpi _mpi;
    private readonly TimeSpan _timeout;
    private long _collectives;
    private bool _finalized;

    private MpiCommunicator(OpenMpi mpi, TimeSpan timeout)
    {
        _mpi = mpi;
        _timeout = timeout;
        int rank, size;
        Check(_mpi.CommRank(_mpi.CommWorld, &rank), "MPI_Comm_rank");
        Check(_mpi.CommSize(_mpi.CommWorld, &size), "MPI_Comm_size");
        Rank = rank;
        Size = size;
    }

    /// <inheritdoc/>
    public int Rank { get; }
    /// <inheritdoc/>
    public int Size { get; }

    /// <summary>The number of ranks mpirun (or another MPI launcher) started, from its environment, or null when this process
    /// was not launched by one. Read before loading libmpi, so a plain run never touches MPI.</summary>
    public static int? LaunchedSize()
    {
        foreach (var name in new[] { "OMPI_COMM_WORLD_SIZE", "PMI_SIZE" })
            if (Environment.GetEnvironmentVariable(name) is { } v && int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n > 0)
                return n;
        return null;
    }

    /// <summary>Ranks on this machine (OMPI_COMM_WORLD_LOCAL_SIZE), for splitting the cores among them; 1 when unknown.</summary>
    public static int LocalSize() =>
        Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_LOCAL_SIZE") is { } v && int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n > 0 ? n : 1;

    /// <summary>Kernel threads for this rank: the cores mpirun bound it to when it bound it (ProcessorCount follows the
    /// affinity), else the machine's cores shared evenly among the ranks on it (mpirun --bind-to none).</summary>
    public static int DefaultThreads()
    {
        int visible = Environment.ProcessorCount, online = OnlineCpus() ?? visible;
        return visible < online ? visible : Math.Max(1, visible / LocalSize());
    }

    // /sys/devices/system/cpu/online, e.g. "0-63" or "0,2-5": every CPU of the machine, whatever this process is bound to
    private static int? OnlineCpus()
    {
        try
        {
            int n = 0;
            foreach (var part in File.ReadAllText("/sys/devices/system/cpu/online").Trim().Split(',', StringSplitOptions.RemoveEmptyEntries))
            {
                var ends = part.Split('-');
                n += ends.Length == 2 ? int.Parse(ends[1], CultureInfo.InvariantCulture) - int.Parse(ends[0], CultureInfo.InvariantCulture) + 1 : 1;
            }
            return n > 0 ? n : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or OverflowException) { return null; }
    }

    /// <summary>Initialises MPI (MPI_Init) and returns the world. Throws with a one-line reason when libmpi cannot be loaded
    /// or the collective deadline is malformed.</summary>
    public static MpiCommunicator Start()
    {
        var timeout = TimeSpan.FromSeconds(600);
        if (Environment.GetEnvironmentVariable(TimeoutVariable) is { Length: > 0 } t)
            timeout = double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out double s) && s > 0 && double.IsFinite(s)
                ? TimeSpan.FromSeconds(s)
                : throw new ArgumentException($"{TimeoutVariable}={t}: expected a positive number of seconds");
        OpenMpi mpi;
        try { mpi = OpenMpi.Load(); }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException)
        {
            throw new InvalidOperationException($"launched by an MPI launcher, but {OpenMpi.LibraryName} (Open MPI 4 or 5) could not be loaded ({e.Message.ReplaceLineEndings(" ")}); install openmpi-bin");
        }
        // Open MPI would otherwise install its own SIGSEGV/SIGBUS handlers, which .NET needs for null references
        OpenMpi.SetNativeEnvironment("OMPI_MCA_opal_signal", "");
        int flag;
        Check(mpi.Initialized(&flag), "MPI_Initialized");
        if (flag == 0) Check(mpi.Init(null, null), "MPI_Init");
        return new MpiCommunicator(mpi, timeout);
    }

    /// <inheritdoc/>
    public void AllReduceSum(Span<float> values)
    {
        fixed (float* p = values) AllReduce(p, values.Length, _mpi.Float);
    }

    /// <inheritdoc/>
    public void AllReduceSum(Span<double> values)
    {
        fixed (double* p = values) AllReduce(p, values.Length, _mpi.Double);
    }

    private void AllReduce(void* p, int count, nint type)
    {
        if (count == 0) return;
        nint request;
        Check(_mpi.Iallreduce((void*)OpenMpi.InPlace, p, count, type, _mpi.Sum, _mpi.CommWorld, &request), "MPI_Iallreduce");
        Wait(&request, "all-reduce");
    }

    /// <inheritdoc/>
    public ICollectiveRequest StartAllReduceSum(float[] values, int count)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, values.Length);
        var pin = GCHandle.Alloc(values, GCHandleType.Pinned); // MPI writes the sum there later
        nint request;
        int rc = _mpi.Iallreduce((void*)OpenMpi.InPlace, (void*)pin.AddrOfPinnedObject(), count, _mpi.Float, _mpi.Sum, _mpi.CommWorld, &request);
        if (rc != 0) { pin.Free(); Check(rc, "MPI_Iallreduce"); }
        return new Request(this, request, pin);
    }

    private sealed class Request(MpiCommunicator comm, nint request, GCHandle pin) : ICollectiveRequest
    {
        private nint _request = request;
        private bool _done;

        public bool Test()
        {
            if (_done) return true;
            int flag;
            nint r = _request;
            Check(comm._mpi.Test(&r, &flag, null), "MPI_Test");
            _request = r;
            if (flag != 0) Complete();
            return _done;
        }

        public void Wait()
        {
            if (_done) return;
            nint r = _request;
            comm.Wait(&r, "all-reduce");
            _request = r;
            Complete();
        }

        private void Complete()
        {
            _done = true;
            pin.Free();
        }
    }

    /// <inheritdoc/>
    public void Broadcast(Span<byte> data, int root)
    {
        if (data.Length == 0) return;
        nint request;
        fixed (byte* p = data) { Check(_mpi.Ibcast(p, data.Length, _mpi.Byte, root, _mpi.CommWorld, &request), "MPI_Ibcast"); Wait(&request, "broadcast"); }
    }

    /// <inheritdoc/>
    public void Broadcast(Span<float> data, int root)
    {
        if (data.Length == 0) return;
        nint request;
        fixed (float* p = data) { Check(_mpi.Ibcast(p, data.Length, _mpi.Float, root, _mpi.CommWorld, &request), "MPI_Ibcast"); Wait(&request, "broadcast"); }
    }

    /// <inheritdoc/>
    public void Barrier()
    {
        nint request;
        Check(_mpi.Ibarrier(_mpi.CommWorld, &request), "MPI_Ibarrier");
        Wait(&request, "barrier");
    }

    // Polls the request: spinning first (a reduction of a few MB completes in milliseconds and Open MPI progresses it only
    // inside MPI calls), then yielding, then sleeping 1 ms, so a rank that waits for a slower one leaves it the cores.
    private void Wait(nint* request, string what)
    {
        long n = ++_collectives;
        var sw = Stopwatch.StartNew();
        for (int polls = 0; ; polls++)
        {
            int done;
            Check(_mpi.Test(request, &done, null), "MPI_Test");
            if (done != 0) return;
            if (sw.Elapsed > _timeout)
            {
                Console.Out.Flush();
                Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"bitdistill: rank {Rank} of {Size}: no answer from the other ranks for {_timeout.TotalSeconds:F0} s in {what} #{n} (a rank died or hangs); stopping all ranks (set {TimeoutVariable} to wait longer)"));
                Abort(3);
            }
            if (polls < 2000) continue;
            if (sw.ElapsedMilliseconds < 50) Thread.Yield();
            else Thread.Sleep(1);
        }
    }

    /// <summary>Ends every rank of the job (MPI_Abort) with <paramref name="exitCode"/>; used when this rank fails alone,
    /// so the others do not wait for it.</summary>
    public void Abort(int exitCode)
    {
        Console.Out.Flush();
        Console.Error.Flush();
        _mpi.Abort(_mpi.CommWorld, exitCode);
        Environment.Exit(exitCode);
    }

    private static void Check(int rc, string call)
    {
        if (rc != 0) throw new InvalidOperationException($"{call} failed with MPI error {rc}");
    }

    /// <summary>MPI_Finalize (once).</summary>
    public void Dispose()
    {
        if (_finalized) return;
        _finalized = true;
        Check(_mpi.Finalize(), "MPI_Finalize");
    }
}
