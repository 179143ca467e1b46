namespace BitDistill.Tensors;

/// <summary>Element type of a tensor. Float32 is the compute type; the others are for storage, I/O and quantised paths.</summary>
public enum DType
{
    Float32,
    Float16,
    BFloat16,
    Int8,
    UInt8,
    Int32,
    Int64,
    Bool,
}
