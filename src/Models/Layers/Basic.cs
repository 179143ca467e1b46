using BitDistill.Autograd;
using BitDistill.Tensors;

namespace BitDistill.Models.Layers;

/// <summary>A layer y = f(x) on variables.</summary>
public interface ILayer
{
    /// <summary>Applies the layer.</summary>
    Variable Forward(Variable x);
}

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

/// <summary>Lookup table [num, dim] (nn.Embedding; name: weight).</summary>
public sealed class Embedding : Module
{
    public Embedding(int num, int dim, Generator? gen = null, float std = 0.02f)
    {
        Weight = Parameter("weight", gen is null ? Tensor.Zeros(num, dim) : Tensor.Normal([num, dim], gen, 0, std));
    }

    public Variable Weight { get; }
    public int Num => Weight.Size(0);
    public int Dim => Weight.Size(1);

    /// <summary>Rows for Int32/Int64 ids of any shape; out-of-range ids raise an error naming the id and the table size.</summary>
    public Variable Forward(Tensor ids) => F.Embedding(Weight, ids);
}

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
