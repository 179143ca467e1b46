namespace BitDistill.Runtime;

/// <summary>How an exported model stores its embedding table and lm_head.</summary>
public enum TableStorage
{
    /// <summary>"fp16": IEEE half.</summary>
    Float16,
    /// <summary>"int8": symmetric INT8 codes with one float32 scale per row (tensor NAME_scale).</summary>
    Int8,
    /// <summary>"fp32": full float32 (for exact comparisons with the training model).</summary>
    Float32,
}
