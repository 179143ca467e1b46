namespace BitDistill.Backends.Ilgpu;

/// <summary>The requested accelerator (CUDA GPU, OpenCL device) is not present on this machine; the message names what
/// is missing.</summary>
public sealed class IlgpuDeviceUnavailableException(string message) : Exception(message);
