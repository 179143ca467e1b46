namespace BitDistill.Runtime;

/// <summary>The activation of the runtime's gated MLP: down_proj(act(gate_proj(x)) · up_proj(x)).</summary>
public enum RuntimeActivation
{
    /// <summary>SiLU (Qwen's SwiGLU).</summary>
    Silu,
    /// <summary>GELU with the tanh approximation (Gemma's gelu_pytorch_tanh).</summary>
    GeluTanh,
    /// <summary>Exact GELU (erf).</summary>
    Gelu,
}
