using BitDistill.Kernels;
using BitDistill.Tensors;

namespace BitDistill.Runtime;

/// <summary>One linear projection of the runtime's forward: a float weight (float32, or FP16 as a checkpoint stores it) or packed ternary
/// weights (exported models), an optional bias, and an optional SubLN RMSNorm applied to its input first.</summary>
internal sealed class RuntimeProjection
{
    public RuntimeProjection(Tensor weight, Tensor? bias)
    {
        Weight = weight; Bias = bias; OutFeatures = weight.Shape[0]; InFeatures = weight.Shape[1];
        Fp16Outliers = InferenceOps.FindFp16Outliers(weight);
    }

    public RuntimeProjection(PackedTernaryMatrix ternary, Tensor? bias, Tensor? inputNorm)
    {
        Ternary = ternary; Bias = bias; InputNorm = inputNorm; OutFeatures = ternary.Rows; InFeatures = ternary.Cols;
    }

    public Tensor? Weight { get; }
    /// <summary>The zeros, subnormals, Inf and NaN of an FP16 <see cref="Weight"/>, found once for its faster GEMV.</summary>
    public Fp16Outliers? Fp16Outliers { get; }
    public PackedTernaryMatrix? Ternary { get; }
    public Tensor? Bias { get; }
    public Tensor? InputNorm { get; }
    public int InFeatures { get; }
    public int OutFeatures { get; }
}
