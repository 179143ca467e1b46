namespace BitDistill.Models.BitNet;

/// <summary>How BitLinear scales its ternary weights.</summary>
public enum WeightScaleMode
{
    /// <summary>One absmean scale per tensor (the paper, bitnet.cpp I2_S).</summary>
    PerTensor,
    /// <summary>One absmean scale per output channel.</summary>
    PerChannel,
    /// <summary>One absmean scale per group of consecutive input weights in each row (fake-quantised float path).</summary>
    PerGroup,
}
