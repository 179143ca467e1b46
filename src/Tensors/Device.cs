namespace BitDistill.Tensors;

/// <summary>Kinds of device a tensor can live on.</summary>
public enum DeviceKind
{
    /// <summary>The fast SIMD, multithreaded CPU backend.</summary>
    Cpu,
    /// <summary>The plain scalar reference backend: the tests' oracle.</summary>
    Reference,
    /// <summary>An ILGPU accelerator.</summary>
    Gpu,
}

/// <summary>A place where tensor memory lives; it names the backend that runs ops on it.</summary>
public sealed class Device
{
    private static readonly Lazy<Device> _cpu = new(() => new Device(DeviceKind.Cpu, "cpu", static d => new CpuBackend(d)));
    private static readonly Lazy<Device> _reference = new(() => new Device(DeviceKind.Reference, "reference", static d => new ReferenceBackend(d)));

    /// <summary>The SIMD CPU device (the default).</summary>
    public static Device Cpu => _cpu.Value;
    /// <summary>The scalar reference device.</summary>
    public static Device Reference => _reference.Value;
    /// <summary>Where new tensors go when no device is named.</summary>
    public static Device Default { get; set; } = Cpu;

    /// <summary>Creates a device with its backend (used by backends outside this assembly, e.g. ILGPU).</summary>
    public Device(DeviceKind kind, string name, Func<Device, IBackend> backend)
    {
        Kind = kind; Name = name; Backend = backend(this);
    }

    public DeviceKind Kind { get; }
    public string Name { get; }
    /// <summary>The backend that executes ops on tensors of this device.</summary>
    public IBackend Backend { get; }
    public override string ToString() => Name;
}
