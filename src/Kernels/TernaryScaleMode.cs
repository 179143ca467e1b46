namespace BitDistill.Kernels;

/// <summary>How many scales a packed ternary matrix carries.</summary>
public enum TernaryScaleMode
{
    /// <summary>One absmean scale for the whole matrix (BitNet b1.58 / BitDistill, bitnet.cpp I2_S).</summary>
    PerTensor = 0,
    /// <summary>One absmean scale per output row (per-channel).</summary>
    PerRow = 1,
}
