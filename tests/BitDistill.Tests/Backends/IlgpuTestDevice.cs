using BitDistill.Backends.Ilgpu;
using BitDistill.Tensors;

namespace BitDistill.Tests.Backends;

/// <summary>One ILGPU CPU-emulator device for the whole test run (the one --device emulator uses too), so each kernel is compiled once.</summary>
internal static class IlgpuTestDevice
{
    /// <summary>The shared emulator device.</summary>
    public static Device Device => IlgpuDevices.SharedCpuEmulator;

    private static readonly Lazy<Device> _tiled = new(() => IlgpuDevices.CpuEmulator(tiledSgemm: true));

    /// <summary>An emulator whose matrix products run on the GPUs' tiled SGEMM (the shared one uses the per-element kernel).</summary>
    public static Device TiledSgemmDevice => _tiled.Value;

    private static readonly Lazy<Device> _groupRows = new(() => IlgpuDevices.CpuEmulator(groupRows: true));

    /// <summary>An emulator whose row kernels run as the GPUs' group-per-row ones (the shared one uses a thread per row).</summary>
    public static Device GroupRowsDevice => _groupRows.Value;

    /// <summary>A CPU tensor and its copy on the emulator.</summary>
    public static (Tensor cpu, Tensor gpu) Pair(int[] shape, ulong seed, float lo = -2, float hi = 2)
    {
        var c = TestUtil.Rand(shape, seed, lo, hi, BitDistill.Tensors.Device.Cpu);
        return (c, c.To(Device));
    }

    /// <summary>The device result, brought back to the CPU, is close to the CPU backend's.</summary>
    public static void AssertClose(Tensor gpu, Tensor cpu, double tol, string what)
    {
        Assert.Equal(Device, gpu.Device);
        TestUtil.AssertClose(gpu.To(BitDistill.Tensors.Device.Cpu), cpu, tol, what);
    }
}
