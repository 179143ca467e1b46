namespace BitDistill.Tensors.SafeTensors;

/// <summary>One tensor's header entry: dtype, shape and where its bytes lie in the data region.</summary>
/// <param name="Name">Tensor name as stored.</param>
/// <param name="DType">Stored element type.</param>
/// <param name="Shape">Dimensions as stored (each ≥ 0).</param>
/// <param name="Begin">Start of the bytes, relative to the start of the data region (the header's data_offsets[0]).</param>
/// <param name="ByteLength">Number of bytes (= element count × dtype size).</param>
public sealed record SafeTensorsEntry(string Name, DType DType, IReadOnlyList<long> Shape, long Begin, long ByteLength)
{
    /// <summary>Product of the shape.</summary>
    public long ElementCount => ByteLength / DType.SizeOf();

    /// <summary>The shape as a <see cref="Tensor"/> shape; throws <see cref="NotSupportedException"/> when the tensor has
    /// more than 2^31-1 elements (the limit of this library's tensors).</summary>
    public int[] TensorShape()
    {
        if (ElementCount > int.MaxValue || Shape.Any(d => d > int.MaxValue))
            throw new NotSupportedException($"tensor '{Name}' of shape [{string.Join(", ", Shape)}] is larger than 2^31-1 elements");
        return Shape.Select(d => (int)d).ToArray();
    }
}
