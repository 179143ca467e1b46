using BitDistill.Autograd;
using BitDistill.Tensors;

namespace BitDistill.Models.Gemma3;

/// <summary>Gemma's RMSNorm: x·rsqrt(mean(x²) + ε)·(1 + weight), weight initialised to 0 (name: weight). Hugging Face computes it
/// in float32 whatever the model dtype, and so does everything here.</summary>
public sealed class Gemma3RmsNorm : Module, Layers.ILayer
{
    /// <summary>A norm over the last dim of width <paramref name="dim"/>.</summary>
    public Gemma3RmsNorm(int dim, float eps)
    {
        Eps = eps;
        Weight = Parameter("weight", Tensor.Zeros(dim));
    }

    /// <summary>ε.</summary>
    public float Eps { get; }
    /// <summary>The learned offset of the scale (the scale is 1 + weight).</summary>
    public Variable Weight { get; }

    /// <inheritdoc/>
    public Variable Forward(Variable x) => F.RmsNorm(x, Weight + 1f, Eps);
}
