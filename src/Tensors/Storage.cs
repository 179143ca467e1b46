namespace BitDistill.Tensors;

/// <summary>A flat buffer of elements on one device. Tensors are views (shape, strides, offset) over a storage.</summary>
public abstract class Storage
{
    /// <summary>Element type.</summary>
    public abstract DType DType { get; }
    /// <summary>Number of elements.</summary>
    public abstract int Length { get; }
    /// <summary>The device (and so the backend) that owns the memory.</summary>
    public abstract Device Device { get; }
}
