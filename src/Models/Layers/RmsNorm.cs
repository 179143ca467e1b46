using BitDistill.Autograd;
using BitDistill.Tensors;

namespace BitDistill.Models.Layers;

/// <summary>RMSNorm over the last dim with a learned scale initialised to 1 (name: weight).</summary>
public sealed class RmsNorm : Module, ILayer
{
    public RmsNorm(int dim, float eps)
    {
        Eps = eps;
        Weight = Parameter("weight", Tensor.Ones(dim));
    }

    public float Eps { get; }
    public Variable Weight { get; }
    public Variable Forward(Variable x) => F.RmsNorm(x, Weight, Eps);
}
