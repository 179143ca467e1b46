using System.Runtime.InteropServices;

namespace BitDistill.Parallel;

/// <summary>The few Open MPI entry points data-parallel training needs, bound at run time from libmpi.so.40 (Open MPI 4
/// and 5 on Linux). Open MPI's handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM…) are addresses of global symbols, so they
/// are looked up as exports like the functions; MPI_IN_PLACE is (void*)1 and MPI_STATUS_IGNORE is null.</summary>
internal sealed unsafe partial class OpenMpi
{
    public const string LibraryName = "libmpi.so.40";
    private const int RtldNow = 2, RtldGlobal = 0x100;

    public readonly nint CommWorld, Float, Double, Byte, Sum;
    public static readonly nint InPlace = 1;

    public readonly delegate* unmanaged<int*, byte***, int> Init;
    public readonly delegate* unmanaged<int*, int> Initialized;
    public readonly delegate* unmanaged<int> Finalize;
    public readonly delegate* unmanaged<nint, int*, int> CommRank;
    public readonly delegate* unmanaged<nint, int*, int> CommSize;
    public readonly delegate* unmanaged<void*, void*, int, nint, nint, nint, nint*, int> Iallreduce;
    public readonly delegate* unmanaged<void*, int, nint, int, nint, nint*, int> Ibcast;
    public readonly delegate* unmanaged<nint, nint*, int> Ibarrier;
    public readonly delegate* unmanaged<nint*, int*, void*, int> Test;
    public readonly delegate* unmanaged<nint, int, int> Abort;

    private OpenMpi(nint lib)
    {
        nint Get(string name) => NativeLibrary.GetExport(lib, name);
        CommWorld = Get("ompi_mpi_comm_world");
        Float = Get("ompi_mpi_float");
        Double = Get("ompi_mpi_double");
        Byte = Get("ompi_mpi_byte");
        Sum = Get("ompi_mpi_op_sum");
        Init = (delegate* unmanaged<int*, byte***, int>)Get("MPI_Init");
        Initialized = (delegate* unmanaged<int*, int>)Get("MPI_Initialized");
        Finalize = (delegate* unmanaged<int>)Get("MPI_Finalize");
        CommRank = (delegate* unmanaged<nint, int*, int>)Get("MPI_Comm_rank");
        CommSize = (delegate* unmanaged<nint, int*, int>)Get("MPI_Comm_size");
        Iallreduce = (delegate* unmanaged<void*, void*, int, nint, nint, nint, nint*, int>)Get("MPI_Iallreduce");
        Ibcast = (delegate* unmanaged<void*, int, nint, int, nint, nint*, int>)Get("MPI_Ibcast");
        Ibarrier = (delegate* unmanaged<nint, nint*, int>)Get("MPI_Ibarrier");
        Test = (delegate* unmanaged<nint*, int*, void*, int>)Get("MPI_Test");
        Abort = (delegate* unmanaged<nint, int, int>)Get("MPI_Abort");
    }

    /// <summary>Loads the library (globally, as Open MPI's own plug-ins expect) and binds the entry points.</summary>
    public static OpenMpi Load()
    {
        // RTLD_GLOBAL: Open MPI's components are shared objects that resolve symbols of libmpi itself
        var lib = DlOpen(LibraryName, RtldNow | RtldGlobal);
        if (lib == 0) lib = NativeLibrary.Load(LibraryName);
        return new OpenMpi(lib);
    }

    /// <summary>Sets a variable in the native environment (Open MPI reads its MCA settings there; .NET's
    /// Environment.SetEnvironmentVariable does not reach it on Unix).</summary>
    public static void SetNativeEnvironment(string name, string value)
    {
        if (SetEnv(name, value, 1) != 0) throw new InvalidOperationException($"setenv {name} failed");
    }

    [LibraryImport("libc", EntryPoint = "dlopen", StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint DlOpenNative(string file, int mode);

    [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SetEnv(string name, string value, int overwrite);

    private static nint DlOpen(string file, int mode)
    {
        try { return DlOpenNative(file, mode); }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return 0; }
    }
}
