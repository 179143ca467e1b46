using BitDistill.Kernels;

namespace BitDistill.Tensors;

/// <summary>Host-side scalar references of the activation quantiser and the ternary×INT8 product (the defaults of
/// <see cref="IBackend"/>).</summary>
internal static class TernaryReference
{
    public static (Tensor x, int m, int k) Rows(Tensor x, string op)
    {
        if (x.DType != DType.Float32) throw new ArgumentException($"{op} needs float32 activations, got {x.DType}");
        if (x.Rank != 2) throw new ArgumentException($"{op} expects activations [M, K], got {Tensor.ShapeString(x.Shape)}");
        return (x.Contiguous(), x.Size(0), x.Size(1));
    }

    public static QuantizedActivations QuantizeActivations(Tensor x)
    {
        var (xc, m, k) = Rows(x, "QuantizeActivations");
        var q = new sbyte[m * k]; var scales = new float[m];
        ActivationQuantizer.QuantizePerTokenReference(xc.ToArray<float>(), m, k, q, scales, new int[m]);
        return new QuantizedActivations(Tensor.FromArray(q, [m, k], x.Device), Tensor.FromArray(scales, [m], x.Device));
    }

    public static void CheckProduct(QuantizedActivations x, PackedTernaryMatrix w)
    {
        if (x.Cols != w.Cols) throw new ArgumentException($"ternary product: activations [{x.Rows}, {x.Cols}] do not fit weights [{w.Rows}, {w.Cols}]");
        if (x.Codes.DType != DType.Int8 || x.Scales.DType != DType.Float32 || x.Scales.Count != x.Rows)
            throw new ArgumentException("ternary product: codes must be Int8 [M, K] and scales float32 [M]");
    }

    public static Tensor MatMul(QuantizedActivations x, PackedTernaryMatrix w)
    {
        CheckProduct(x, w);
        var y = new float[x.Rows * w.Rows];
        TernaryGemm.MultiplyReference(x.Codes.ToArray<sbyte>(), x.Scales.ToArray<float>(), x.Rows, w, y);
        return Tensor.FromArray(y, [x.Rows, w.Rows], x.Codes.Device);
    }
}
