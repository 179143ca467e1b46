using BitDistill.Tensors;

namespace BitDistill.Autograd.Ops;

/// <summary>Permutation of dims (also transpose): the gradient is permuted back.</summary>
[Op("permute")]
internal sealed class PermuteFn(int[] dims) : Function
{
    public static Variable Apply(Variable x, int[] dims) => Record(new PermuteFn(dims), x.Value.Permute(dims), x);
    protected internal override Tensor?[] Backward(Tensor g, bool[] needs)
    {
        var inv = new int[dims.Length];
        for (int i = 0; i < dims.Length; i++) inv[x(dims[i], dims.Length)] = i;
        return [g.Permute(inv)];
        static int x(int d, int n) => d < 0 ? d + n : d;
    }
}
