using BitDistill.Tensors;

namespace BitDistill.Backends.Ilgpu;

/// <summary>A strided walk of up to six (coalesced) dims, passed to kernels by value: the element offset of the i-th
/// element in row-major order. Dims are stored innermost first; unused dims have size 1.</summary>
internal struct StridedLayout
{
    public const int MaxRank = 6;
    public int Offset;
    public int D0, D1, D2, D3, D4, D5;
    public int S0, S1, S2, S3, S4, S5;

    /// <summary>The storage offset of the element at row-major position <paramref name="linear"/>.</summary>
    public readonly int At(int linear)
    {
        int o = Offset, q;
        q = linear / D0; o += (linear - q * D0) * S0; linear = q;
        q = linear / D1; o += (linear - q * D1) * S1; linear = q;
        q = linear / D2; o += (linear - q * D2) * S2; linear = q;
        q = linear / D3; o += (linear - q * D3) * S3; linear = q;
        q = linear / D4; o += (linear - q * D4) * S4; linear = q;
        return o + linear * S5;
    }

    /// <summary>The layout of a coalesced shape (outermost first) with one operand's strides.</summary>
    public static StridedLayout Of(int offset, ReadOnlySpan<int> shape, ReadOnlySpan<int> strides)
    {
        if (shape.Length > MaxRank) throw new NotSupportedException($"the ILGPU backend walks at most {MaxRank} non-contiguous dims, got shape {Tensor.ShapeString(shape)}");
        Span<int> d = stackalloc int[MaxRank]; Span<int> s = stackalloc int[MaxRank];
        d.Fill(1); s.Clear();
        for (int i = 0; i < shape.Length; i++) { d[i] = shape[shape.Length - 1 - i]; s[i] = strides[shape.Length - 1 - i]; }
        return new StridedLayout
        {
            Offset = offset,
            D0 = d[0], D1 = d[1], D2 = d[2], D3 = d[3], D4 = d[4], D5 = d[5],
            S0 = s[0], S1 = s[1], S2 = s[2], S3 = s[3], S4 = s[4], S5 = s[5],
        };
    }

    /// <summary>Layouts of several tensors walked over one shape (broadcast strides allowed), dims coalesced.</summary>
    public static StridedLayout[] Walk(ReadOnlySpan<int> shape, params (int offset, int[] strides)[] operands)
    {
        var (cs, cst) = Broadcast.Coalesce(shape, operands.Select(o => o.strides).ToArray());
        var r = new StridedLayout[operands.Length];
        for (int k = 0; k < operands.Length; k++) r[k] = Of(operands[k].offset, cs, cst[k]);
        return r;
    }
}
