namespace BitDistill.Runtime;

/// <summary>How an exported model stores its ternary weights.</summary>
public enum TernaryPacking
{
    /// <summary>"i2": 2-bit codes in the kernels' 128-wide block layout (<see cref="Kernels.PackedTernaryMatrix"/>), loaded as is.</summary>
    I2,
    /// <summary>"t1.6": base 3, 5 trits per byte (<see cref="Kernels.TernaryBase3"/>), unpacked to 2-bit codes on load.</summary>
    T16,
}
