namespace BitDistill.Tensors;

/// <summary>Storage of a meta tensor: a length and a dtype, no memory.</summary>
public sealed class MetaStorage(DType dtype, int length, Device device) : Storage
{
    /// <inheritdoc/>
    public override DType DType { get; } = dtype;
    /// <inheritdoc/>
    public override int Length { get; } = length;
    /// <inheritdoc/>
    public override Device Device { get; } = device;
}
