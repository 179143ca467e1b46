using BitDistill.Kernels;
using BitDistill.Tensors;

namespace BitDistill.Runtime;

/// <summary>One linear projection of the runtime's forward: a float32 weight (full-precision checkpoints) or packed ternary
/// weights (exported models), an optional bias, and an optional SubLN RMSNorm applied to its input first.</summary>
internal sealed class RuntimeProjection
{
    public RuntimeProjection(Tensor weight, Tensor? bias) { Weight = weight; Bias = bias; OutFeatures = weight.Shape[0]; InFeatures = weight.Shape[1]; }

    public RuntimeProjection(PackedTernaryMatrix ternary, Tensor? bias, Tensor? inputNorm)
    {
        Ternary = ternary; Bias = bias; InputNorm = inputNorm; OutFeatures = ternary.Rows; InFeatures = ternary.Cols;
    }

    public Tensor? Weight { get; }
    public PackedTernaryMatrix? Ternary { get; }
    public Tensor? Bias { get; }
    public Tensor? InputNorm { get; }
    public int InFeatures { get; }
    public int OutFeatures { get; }
}
