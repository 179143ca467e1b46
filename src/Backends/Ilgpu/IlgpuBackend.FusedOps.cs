using System.Runtime.CompilerServices;
using BitDistill.Kernels;
using BitDistill.Tensors;
using ILGPU;
using ILGPU.Runtime;

namespace BitDistill.Backends.Ilgpu;

// The fused operations this backend runs on the device; the others keep IBackend's composite defaults (which run on the
// device through the primitive ops) or host references (through the explicit transfers).
public sealed partial class IlgpuBackend
{
    public Storage AllocateUninitialized(DType dtype, int length) => Allocate(dtype, length, clear: false);

    private static void CheckOptimizerTensor(Tensor t, string name, Tensor like)
    {
        if (t.DType != DType.Float32 || !t.IsContiguous) throw new ArgumentException($"optimizer tensor '{name}' must be contiguous float32, got {t.DType}{(t.IsContiguous ? "" : " (strided)")}");
        if (!t.Shape.SequenceEqual(like.Shape)) throw new ArgumentException($"optimizer tensor '{name}' has shape {Tensor.ShapeString(t.Shape)}, the parameter {Tensor.ShapeString(like.Shape)}");
    }

    public void AdamWUpdate(Tensor param, Tensor grad, Tensor expAvg, Tensor expAvgSq, in AdamWStep step)
    {
        CheckOptimizerTensor(param, "param", param); CheckOptimizerTensor(grad, "grad", param);
        CheckOptimizerTensor(expAvg, "exp_avg", param); CheckOptimizerTensor(expAvgSq, "exp_avg_sq", param);
        if (param.Count == 0) return;
        // the CPU kernel's folded constants (OptimKernels.AdamConstants), so both backends do the same float operations
        _k.AdamW(param.Count, Vc(param), Vc(grad), Vc(expAvg), Vc(expAvgSq), 1 - step.Beta1, step.Beta2, 1 - step.Beta2, step.Eps,
            1 - step.Lr * step.WeightDecay, step.Lr / step.Bc1, 1f / step.Bc2Sqrt);
    }

    public void SgdUpdate(Tensor param, Tensor grad, Tensor? momentumBuffer, in SgdStep step, bool firstStep)
    {
        CheckOptimizerTensor(param, "param", param); CheckOptimizerTensor(grad, "grad", param);
        if (momentumBuffer is not null) CheckOptimizerTensor(momentumBuffer, "momentum_buffer", param);
        if (param.Count == 0) return;
        _k.Sgd(param.Count, Vc(param), Vc(grad), momentumBuffer is null ? Dummy : Vc(momentumBuffer), step.Lr, momentumBuffer is null ? 0 : step.Momentum,
            step.WeightDecay, step.Nesterov ? 1 : 0, firstStep ? 1 : 0);
    }

    public double SumOfSquares(Tensor x)
    {
        var xc = F(x).Contiguous();
        if (xc.Count == 0) return 0;
        const int Chunk = 4096;
        int chunks = (xc.Count + Chunk - 1) / Chunk;
        var buf = _accelerator.Allocate1D<double>(chunks);
        try
        {
            _k.SumOfSquaresChunks(chunks, Vc(xc), buf.View, xc.Count, Chunk);
            _accelerator.Synchronize();
            double s = 0;
            var host = new double[chunks];
            buf.View.CopyToCPU(host);
            foreach (var v in host) s += v;
            return s;
        }
        finally { buf.Dispose(); }
    }

    public void ScaleInPlace(Tensor x, float factor)
    {
        if (x.DType != DType.Float32 || !x.IsContiguous) throw new ArgumentException($"ScaleInPlace needs a contiguous float32 tensor, got {x.DType}");
        if (x.Count > 0) _k.Scale(x.Count, Vc(x), factor);
    }

    public float CrossEntropyMeanLoss(Tensor logits, Tensor lse, Tensor targets, long ignoreIndex, int validCount)
    {
        if (validCount == 0) return float.NaN;
        int n = logits.Size(0), c = logits.Size(1);
        var (lc, l) = (Dense(logits), Dense(lse));
        var t = targets.To(DType.Int64).Contiguous();
        if (t.Device != Device) t = t.To(Device);
        var rows = New([n]);
        if (n > 0) _k.CrossEntropyRowLosses(n, Vc(lc), Vc(l), S(t).View<long>().SubView(t.Offset, n), V(rows), c, ignoreIndex);
        return (float)((double)rows.Sum().Item() / validCount); // the loss is the one value read back
    }

    // each packed weight matrix goes to the device once (its packed bytes and scales), and stays while the matrix lives
    private readonly ConditionalWeakTable<PackedTernaryMatrix, Tensor[]> _packedOnDevice = new();

    public Tensor TernaryMatMul(QuantizedActivations x, PackedTernaryMatrix weight)
    {
        if (x.Cols != weight.Cols) throw new ArgumentException($"ternary product: activations [{x.Rows}, {x.Cols}] do not fit weights [{weight.Rows}, {weight.Cols}]");
        if (x.Codes.DType != DType.Int8 || x.Scales.DType != DType.Float32 || x.Scales.Count != x.Rows)
            throw new ArgumentException("ternary product: codes must be Int8 [M, K] and scales float32 [M]");
        var w = _packedOnDevice.GetValue(weight, p =>
            [Tensor.FromArray(p.Data.ToArray(), [p.Data.Length], Device), Tensor.FromArray(p.Scales.ToArray(), [p.Scales.Length], Device)]);
        var codes = x.Codes.Device == Device ? x.Codes.Contiguous() : x.Codes.To(Device).Contiguous();
        var scales = x.Scales.Device == Device ? x.Scales.Contiguous() : x.Scales.To(Device).Contiguous();
        var y = New([x.Rows, weight.Rows]);
        if (y.Count > 0)
            _k.TernaryMatMul(y.Count, S(codes).View<sbyte>().SubView(codes.Offset, Math.Max(1, codes.Count)), Vc(scales), S(w[0]).Raw, Vc(w[1]), V(y),
                weight.Rows, weight.Cols, weight.RowBytes, weight.ScaleMode == TernaryScaleMode.PerRow ? 1 : 0);
        return y;
    }

    // attention inputs as the kernels read them: contiguous float32 on this device (a KV cache's filled prefix is copied)
    private Tensor Dense(Tensor t) => F(t.Device == Device ? t : t.To(Device)).Contiguous();

    public (Tensor output, Tensor lse) Attention(in AttentionShape shape, Tensor q, Tensor k, Tensor v, Tensor? keyMask)
    {
        AttentionArguments.Validate(shape, q, k, v, keyMask);
        var (qc, kc, vc, mc) = (Dense(q), Dense(k), Dense(v), keyMask is null ? null : Dense(keyMask));
        var o = New(q.ShapeArray); var lse = New([shape.Batch, shape.Heads, shape.QueryLen]);
        if (lse.Count > 0 && shape.HeadDim > 0)
            _k.AttentionForward(lse.Count, Vc(qc), Vc(kc), Vc(vc), mc is null ? Dummy : Vc(mc), V(o), V(lse), new AttentionDims(shape, mc is not null));
        else if (o.Count > 0) o.Backend.Fill(o, 0);
        return (o, lse);
    }

    public (Tensor dq, Tensor dk, Tensor dv) AttentionBackward(in AttentionShape shape, Tensor q, Tensor k, Tensor v, Tensor? keyMask,
        Tensor output, Tensor lse, Tensor gradOutput)
    {
        AttentionArguments.Validate(shape, q, k, v, keyMask);
        var (qc, kc, vc, mc) = (Dense(q), Dense(k), Dense(v), keyMask is null ? null : Dense(keyMask));
        var (oc, lc, gc) = (Dense(output), Dense(lse), Dense(gradOutput));
        var dq = New(q.ShapeArray); var dk = New(k.ShapeArray); var dv = New(v.ShapeArray);
        var delta = New([shape.Batch, shape.Heads, shape.QueryLen]);
        var dims = new AttentionDims(shape, mc is not null);
        var mask = mc is null ? Dummy : Vc(mc);
        if (shape.HeadDim == 0) return (dq, dk, dv);
        if (delta.Count > 0) _k.AttentionBackwardQuery(delta.Count, Vc(qc), Vc(kc), Vc(vc), mask, Vc(oc), Vc(lc), Vc(gc), V(delta), V(dq), dims);
        int keyRows = shape.Batch * shape.KvHeads * shape.KeyLen;
        if (keyRows > 0) _k.AttentionBackwardKey(keyRows, Vc(qc), Vc(kc), Vc(vc), mask, Vc(lc), Vc(gc), delta.Count > 0 ? V(delta) : Dummy, V(dk), V(dv), dims);
        return (dq, dk, dv);
    }

    private ArrayView<sbyte> Vb(Tensor t) => S(t).View<sbyte>().SubView(t.Offset, Math.Max(1, t.Count));

    // Scratch for the absmean row sums (double has no DType); grown when needed, kept between calls because launches are
    // asynchronous (a buffer freed right after its launch could still be in use).
    private MemoryBuffer1D<double, Stride1D.Dense>? _rowSums;
    private readonly object _rowSumsLock = new();

    private ArrayView<double> RowSums(int n)
    {
        if (_rowSums is null || _rowSums.Length < Math.Max(1, n))
        {
            _accelerator.Synchronize();
            _rowSums?.Dispose();
            _rowSums = _accelerator.Allocate1D<double>(Math.Max(1, n));
        }
        return _rowSums.View;
    }

    public QuantizedActivations QuantizeActivations(Tensor x)
    {
        if (x.DType != DType.Float32) throw new ArgumentException($"QuantizeActivations needs float32 activations, got {x.DType}");
        if (x.Rank != 2) throw new ArgumentException($"QuantizeActivations expects activations [M, K], got {Tensor.ShapeString(x.Shape)}");
        int m = x.Size(0), k = x.Size(1);
        var xc = Dense(x);
        var q = New([m, k], DType.Int8); var scales = New([m]);
        if (m > 0) _k.QuantizeActivationRows(m, Vc(xc), Vb(q), V(scales), k);
        return new QuantizedActivations(q, scales);
    }

    public TernaryWeights TernarizeWeights(Tensor weight, TernaryScaleMode mode, int? groupSize = null, Tensor? fixedRowScales = null, Tensor? roundingRowScales = null)
    {
        if (groupSize is not null && fixedRowScales is null) return TernaryWeightReference.Compute(weight, mode, groupSize, null); // per group: host reference
        if (weight.Rank != 2 || weight.DType != DType.Float32) throw new ArgumentException($"ternary weights must be a float32 matrix [out, in], got {weight.DType} {Tensor.ShapeString(weight.Shape)}");
        if (roundingRowScales is not null && fixedRowScales is null) throw new ArgumentException("rounding scales need fixed row scales", nameof(roundingRowScales));
        int n = weight.Size(0), k = weight.Size(1);
        foreach (var (t, name) in new[] { (fixedRowScales, "fixed row scales"), (roundingRowScales, "rounding row scales") })
            if (t is not null && (t.Rank != 1 || t.Size(0) != n))
                throw new ArgumentException($"{name} must be [{n}] for a weight of {Tensor.ShapeString(weight.Shape)}, got {Tensor.ShapeString(t.Shape)}");
        // copies of the arguments (another device, dtype or layout) are temporaries: they go back to the pool when the call
        // ends (launches and reuse share one in-order stream); what is returned is made outside that scope
        using (TensorScope.Begin())
        {
            var w = Dense(weight);
            bool perTensor = fixedRowScales is null && mode == TernaryScaleMode.PerTensor;
            var fixedScales = fixedRowScales is null ? null : Dense(fixedRowScales);
            Tensor codes, dequantized, scales, rounding;
            using (TensorScope.Suspend())
            {
                codes = New([n, k], DType.Int8); dequantized = New([n, k]);
                scales = fixedScales is not null ? fixedScales.Clone() : New([perTensor ? 1 : n]);
            }
            if (fixedRowScales is not null) rounding = roundingRowScales is null ? scales : Dense(roundingRowScales);
            else
            {
                rounding = scales;
                // one scratch per backend: threads sharing the device take turns (launch order is stream order)
                lock (_rowSumsLock)
                {
                    var sums = RowSums(n);
                    if (n > 0) _k.RowAbsSums(n, Vc(w), sums, k);
                    _k.AbsMeanScales(perTensor ? 1 : n, sums, Vc(scales), k, n, perTensor ? 1 : 0);
                    if (_accelerator.AcceleratorType == AcceleratorType.CPU) _accelerator.Synchronize(); // the emulator may run other threads' launches beside these
                }
            }
            if (n * k > 0) _k.TernarizeElements(n * k, Vc(w), Vc(rounding), Vc(scales), Vb(codes), V(dequantized), k, perTensor ? 1 : 0);
            return new TernaryWeights(codes, scales, dequantized, null);
        }
    }

    public Tensor TernaryMatMul(QuantizedActivations x, TernaryWeights weight)
    {
        int n = weight.Codes.Size(0), k = weight.Codes.Size(1);
        if (weight.Scales.Count != 1 && weight.Scales.Count != n)
            throw new ArgumentException("per-group ternary weights have no exact ternary product; they compute on the dequantised weights", nameof(weight));
        if (weight.Codes.Device != Device) return TernaryMatMul(x, weight.Packed!);
        if (x.Cols != k) throw new ArgumentException($"ternary product: activations [{x.Rows}, {x.Cols}] do not fit weights [{n}, {k}]");
        if (x.Codes.DType != DType.Int8 || x.Scales.DType != DType.Float32 || x.Scales.Count != x.Rows)
            throw new ArgumentException("ternary product: codes must be Int8 [M, K] and scales float32 [M]");
        var xc = x.Codes.Device == Device ? x.Codes.Contiguous() : x.Codes.To(Device).Contiguous();
        var xs = Dense(x.Scales);
        var wc = weight.Codes.Contiguous(); var ws = Dense(weight.Scales);
        var y = New([x.Rows, n]);
        if (y.Count > 0) _k.TernaryCodesMatMul(y.Count, Vb(xc), Vc(xs), Vb(wc), Vc(ws), V(y), n, k, weight.Scales.Count == n && n != 1 ? 1 : 0);
        return y;
    }
}
