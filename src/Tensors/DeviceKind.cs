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
    /// <summary>Shapes without memory: builds a model's structure (parameter names and shapes) without allocating weights.</summary>
    Meta,
}
