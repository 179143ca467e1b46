namespace BitDistill.Models.BitNet;

/// <summary>Where SubLN (an extra RMSNorm) sits in a ternary model.</summary>
public enum SubLnPlacement
{
    /// <summary>No SubLN (the "no SubLN" ablation and BitNet-SFT).</summary>
    None,
    /// <summary>On the input of o_proj and down_proj (the paper's text; names self_attn.attn_sub_norm, mlp.ffn_sub_norm).</summary>
    Paper,
    /// <summary>Before every projection, each BitLinear owning its norm (the released "allnorm" configs; name *_proj.sub_norm).</summary>
    All,
}
