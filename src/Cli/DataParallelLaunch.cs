using BitDistill.Autograd;
using BitDistill.Kernels;
using BitDistill.Parallel;

namespace BitDistill.Cli;

/// <summary>Runs a command line under MPI when mpirun (or another MPI launcher) started this process with several ranks:
/// the world becomes <see cref="DataParallel.Communicator"/>, each rank computes on the cores mpirun bound it to, or
/// on its share of the machine's cores when unbound (unless --threads says otherwise), ranks other than 0 are quiet on stdout, mark their stderr lines with their rank and write to a scratch folder, and a rank that fails
/// alone stops the whole job instead of leaving the others waiting. Without a launcher it runs the command as it is.</summary>
public static class DataParallelLaunch
{
    /// <summary>Runs <paramref name="main"/> on this rank and returns its exit code.</summary>
    public static int Run(Func<int> main)
    {
        if (MpiCommunicator.LaunchedSize() is not > 1) return main();
        MpiCommunicator comm;
        try { comm = MpiCommunicator.Start(); }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            Console.Error.WriteLine($"bitdistill: {e.Message}");
            return ErrorPolicy.Failure;
        }
        DataParallel.Communicator = comm;
        var (stdout, stderr) = (Console.Out, Console.Error);
        if (comm.Rank != 0)
        {
            Console.SetOut(TextWriter.Null);
            Console.SetError(TextWriter.Synchronized(new RankPrefixWriter(stderr, comm.Rank)));
        }
        int code;
        try
        {
            using (KernelContext.Override(degreeOfParallelism: MpiCommunicator.DefaultThreads()))
                code = main();
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"bitdistill: {e.Message.ReplaceLineEndings(" ")}");
            code = ErrorPolicy.Failure;
        }
        finally
        {
            Console.Error.Flush();
            Console.SetOut(stdout);
            Console.SetError(stderr);
        }
        // an interruption is agreed by all ranks at one step (exit 130 everywhere): they finish together; any other failure
        // may be this rank's alone, and the others would wait for it in their next collective
        if (code is not (0 or 130)) comm.Abort(code);
        comm.Dispose();
        DataParallel.Communicator = SingleProcess.Instance;
        return code;
    }
}
