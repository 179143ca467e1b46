using BitDistill.Kernels;

namespace BitDistill.Tensors;

/// <summary>Host-side absmean ternarisation of a weight matrix (the default of <see cref="IBackend.TernarizeWeights"/>):
/// a host copy of the weights, the quantisers of <see cref="TernaryQuantizer"/>, dequantisation and packing.</summary>
public static class TernaryWeightReference
{
    /// <summary>The absmean ternarisation of <see cref="IBackend.TernarizeWeights"/> on the host (results on the weight's device).</summary>
    public static TernaryWeights Compute(Tensor weight, TernaryScaleMode mode, int? groupSize, Tensor? fixedRowScaleTensor, Tensor? roundingRowScaleTensor = null)
    {
        var fixedRowScales = RowScales(fixedRowScaleTensor, weight, "fixed row scales");
        var roundingRowScales = RowScales(roundingRowScaleTensor, weight, "rounding row scales");
        if (weight.Rank != 2 || weight.DType != DType.Float32) throw new ArgumentException($"ternary weights must be a float32 matrix [out, in], got {weight.DType} {Tensor.ShapeString(weight.Shape)}");
        int n = weight.Size(0), k = weight.Size(1);
        var w = weight.ToArray<float>();
        foreach (var v in w) if (!float.IsFinite(v)) throw new InvalidOperationException($"BitLinear weight of [{n}, {k}] contains {v}; training diverged?");
        var codes = new sbyte[n * k];
        float[] scales;
        int groups = 1, group = k;
        if (roundingRowScales is not null && fixedRowScales is null) throw new ArgumentException("rounding scales need fixed row scales", nameof(roundingRowScales));
        if (fixedRowScales is not null)
        {
            scales = fixedRowScales;
            TernaryQuantizer.QuantizeWithRowScales(w, n, k, roundingRowScales ?? scales, codes);
            mode = TernaryScaleMode.PerRow;
        }
        else if (groupSize is { } g)
        {
            group = g; groups = TernaryQuantizer.GroupCount(k, g);
            scales = new float[n * groups];
            TernaryQuantizer.QuantizePerGroup(w, n, k, g, codes, scales);
        }
        else if (mode == TernaryScaleMode.PerTensor) scales = [TernaryQuantizer.QuantizePerTensor(w, codes)];
        else { scales = new float[n]; TernaryQuantizer.QuantizePerRow(w, n, k, codes, scales); }
        var wHat = new float[n * k];
        for (int r = 0; r < n; r++)
            for (int c = 0; c < k; c++)
            {
                float s = groupSize is not null && fixedRowScales is null ? scales[r * groups + c / group]
                    : mode == TernaryScaleMode.PerTensor ? scales[0] : scales[r];
                wHat[r * k + c] = codes[r * k + c] * s;
            }
        var packed = groupSize is not null && fixedRowScales is null ? null : PackedTernaryMatrix.FromCodes(codes, n, k, mode, scales);
        using (TensorScope.Suspend())
            return new TernaryWeights(Tensor.FromArray(codes, [n, k], weight.Device), Tensor.FromArray((float[])scales.Clone(), [scales.Length], weight.Device),
                Tensor.FromArray(wHat, [n, k], weight.Device), packed, packable: packed is not null);
    }

    private static float[]? RowScales(Tensor? scales, Tensor weight, string name)
    {
        if (scales is null) return null;
        if (scales.Rank != 1 || scales.Size(0) != weight.Size(0))
            throw new ArgumentException($"{name} must be [{weight.Size(0)}] for a weight of {Tensor.ShapeString(weight.Shape)}, got {Tensor.ShapeString(scales.Shape)}");
        return scales.ToFloatArray();
    }
}
