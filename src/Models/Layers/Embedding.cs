using BitDistill.Autograd;
using BitDistill.Tensors;

namespace BitDistill.Models.Layers;

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
