using BitDistill.Tensors;
using ILGPU;
using ILGPU.Runtime;
using Device = BitDistill.Tensors.Device;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace BitDistill.Backends.Ilgpu;

/// <summary>Creates ILGPU devices: the first CUDA or OpenCL accelerator, or ILGPU's CPU emulator (for tests). Asking for
/// an accelerator that is absent is an <see cref="IlgpuDeviceUnavailableException"/> naming what is missing.</summary>
public static class IlgpuDevices
{
    /// <summary>The first CUDA GPU.</summary>
    public static Device Cuda()
    {
        var context = Context.Create(b => b.Cuda().EnableAlgorithms());
        if (context.GetCudaDevices().Count == 0)
        {
            context.Dispose();
            throw new IlgpuDeviceUnavailableException("--device cuda: no CUDA GPU found (ILGPU needs an NVIDIA GPU and its driver, libcuda.so)");
        }
        return Wrap(context, context.CreateCudaAccelerator(0), "cuda", tiledSgemm: true, groupRows: true);
    }

    /// <summary>The first OpenCL device ILGPU can use (it refuses OpenCL drivers without the generic address space, e.g. PoCL).</summary>
    public static Device OpenCL()
    {
        var context = Context.Create(b => b.OpenCL().EnableAlgorithms());
        if (context.GetCLDevices().Count == 0)
        {
            context.Dispose();
            throw new IlgpuDeviceUnavailableException("--device opencl: no usable OpenCL device found (ILGPU needs an OpenCL 2.0 driver with the generic address space, e.g. a GPU vendor's ICD)");
        }
        return Wrap(context, context.CreateCLAccelerator(0), "opencl", tiledSgemm: true, groupRows: true);
    }

    /// <summary>ILGPU's CPU accelerator, which emulates a GPU (warps of 32, groups up to 1024 threads) on the host: slow,
    /// but it runs every kernel without a GPU. Matrix products use the one-thread-per-element SGEMM unless
    /// <paramref name="tiledSgemm"/> asks for the GPUs' tiled one, and row kernels one thread per row unless
    /// <paramref name="groupRows"/> asks for the GPUs' group-per-row ones (tests of those kernels).</summary>
    public static Device CpuEmulator(bool tiledSgemm = false, bool groupRows = false)
    {
        var context = Context.Create(b => b.CPU(CPUDeviceKind.Nvidia).EnableAlgorithms());
        return Wrap(context, context.GetCPUDevice(0).CreateAccelerator(context), "ilgpu-cpu", tiledSgemm, groupRows);
    }

    private static readonly Lazy<Device> _sharedCpuEmulator = new(() => CpuEmulator());

    /// <summary>One <see cref="CpuEmulator"/> for the whole process (created on first use, never disposed), so that runs
    /// that come one after another in a process (verbs run in-process, tests) compile each kernel once.</summary>
    public static Device SharedCpuEmulator => _sharedCpuEmulator.Value;

    private static Device Wrap(Context context, Accelerator accelerator, string kind, bool tiledSgemm, bool groupRows) =>
        new(DeviceKind.Gpu, $"{kind}:0 ({accelerator.Name})", d => new IlgpuBackend(d, context, accelerator, tiledSgemm, groupRows));
}
