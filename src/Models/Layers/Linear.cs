using BitDistill.Autograd;
using BitDistill.Tensors;

namespace BitDistill.Models.Layers;

/// <summary>y = x·Wᵀ + b with W [out, in] (nn.Linear layout and names: weight, bias).</summary>
public class Linear : Module, ILayer
{
    /// <summary>A linear layer initialised from N(0, std²) (default std 0.02, as Hugging Face initialises Qwen3), bias zero.</summary>
    public Linear(int inFeatures, int outFeatures, bool bias, Generator? gen = null, float std = 0.02f)
    {
        InFeatures = inFeatures; OutFeatures = outFeatures;
        var w = gen is null ? Tensor.Zeros(outFeatures, inFeatures) : Tensor.Normal([outFeatures, inFeatures], gen, 0, std);
        Weight = Parameter("weight", w);
        Bias = bias ? Parameter("bias", Tensor.Zeros(outFeatures)) : null;
    }

    public int InFeatures { get; }
    public int OutFeatures { get; }
    public Variable Weight { get; }
    public Variable? Bias { get; }

    public virtual Variable Forward(Variable x) => F.Linear(x, Weight, Bias);
}
