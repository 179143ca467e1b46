using BitDistill.Autograd;

namespace BitDistill.Models;

/// <summary>A place where the paper's SubLN goes, declared by an architecture: an RMSNorm of <paramref name="Width"/>
/// registered in <paramref name="Parent"/> as <paramref name="NormName"/> (its checkpoint name, e.g.
/// model.layers.3.self_attn.attn_sub_norm) and applied to the input of the projection child <paramref name="Projection"/>
/// (o_proj, down_proj).</summary>
public sealed record SubLnHook(Module Parent, string NormName, string Projection, int Width);
