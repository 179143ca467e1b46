using BitDistill.Backends.Ilgpu;
using BitDistill.Tensors;

namespace BitDistill.Tests.Backends;

/// <summary>One ILGPU CPU-emulator device for the whole test run, so each kernel is compiled once.</summary>
internal static class IlgpuTestDevice
{
    private static readonly Lazy<Device> _device = new(IlgpuDevices.CpuEmulator);

    /// <summary>The shared emulator device.</summary>
    public static Device Device => _device.Value;

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
