namespace BitDistill.Tensors;

/// <summary>A place where tensor memory lives; it names the backend that runs ops on it.</summary>
public sealed class Device
{
    private static readonly Lazy<Device> _cpu = new(() => new Device(DeviceKind.Cpu, "cpu", static d => new CpuBackend(d)));
    private static readonly Lazy<Device> _reference = new(() => new Device(DeviceKind.Reference, "reference", static d => new ReferenceBackend(d)));
    private static readonly Lazy<Device> _meta = new(() => new Device(DeviceKind.Meta, "meta", static d => new MetaBackend(d)));
    private static Device? _processDefault;
    [ThreadStatic] private static Device? t_default;

    /// <summary>The SIMD CPU device (the default).</summary>
    public static Device Cpu => _cpu.Value;
    /// <summary>The scalar reference device.</summary>
    public static Device Reference => _reference.Value;
    /// <summary>The shape-only device (no memory; compute ops refuse).</summary>
    public static Device Meta => _meta.Value;
    /// <summary>Where new tensors go when no device is named: the calling thread's <see cref="UseDefault"/> scope if one is
    /// active, else the process default (settable; the CPU unless changed).</summary>
    public static Device Default
    {
        get => t_default ?? _processDefault ?? Cpu;
        set => _processDefault = value;
    }

    /// <summary>Makes <paramref name="device"/> the default for new tensors on this thread until the result is disposed
    /// (e.g. <c>using (Device.UseDefault(Device.Meta)) new QwenModel(config)</c> builds a model without weights).</summary>
    public static IDisposable UseDefault(Device device)
    {
        var saved = t_default;
        t_default = device;
        return new RestoreDefault(saved);
    }

    private sealed class RestoreDefault(Device? saved) : IDisposable
    {
        public void Dispose() => t_default = saved;
    }

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
