namespace BitDistill.Models.Qwen;

/// <summary>The Qwen architecture variant (Hugging Face <c>model_type</c>).</summary>
public enum QwenArchitecture
{
    /// <summary>Qwen2 / Qwen2.5: q/k/v projections with bias, o_proj without, no QK-norm, head_dim = hidden / heads.</summary>
    Qwen2,
    /// <summary>Qwen3: RMSNorm on each query and key head (q_norm, k_norm) before RoPE; biases iff attention_bias; explicit head_dim.</summary>
    Qwen3,
}
