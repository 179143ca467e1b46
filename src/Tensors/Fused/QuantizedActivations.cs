namespace BitDistill.Tensors;

/// <summary>Per-token INT8 activations: codes [M, K] (Int8) and one scale per row [M] (float32); the dequantised value
/// is code / scale.</summary>
public sealed record QuantizedActivations(Tensor Codes, Tensor Scales)
{
    /// <summary>Rows (tokens).</summary>
    public int Rows => Codes.Size(0);
    /// <summary>Columns (features).</summary>
    public int Cols => Codes.Size(1);
}
