using ILGPU;
using ILGPU.Runtime;

namespace BitDistill.Backends.Ilgpu;

/// <summary>The kernels of <see cref="IlgpuKernels"/> loaded on one accelerator (each compiled on first use) and their
/// launches with the index space they need. With <paramref name="groupRows"/> the row kernels run as the GPUs' forms (a
/// group per row, <see cref="IlgpuKernels.RowGroup"/> threads; the counts and means by one group); without, one thread per row.</summary>
internal sealed class IlgpuKernelSet(Accelerator a, bool groupRows)
{
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int>? _reduceRowsGrouped;
    private Action<KernelConfig, ArrayView<float>, ArrayView<long>, int, int>? _argRowsGrouped;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int>? _softmaxRowsGrouped;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, int>? _lseRowsGrouped;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float, int>? _rmsNormGrouped;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float, int>? _rmsNormBackwardGrouped;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<long>, ArrayView<float>, int, long, float>? _ceBackwardElements;
    private Action<KernelConfig, ArrayView<float>, int, int, float, ArrayView<float>>? _keptCountGrouped;
    private Action<KernelConfig, ArrayView<long>, int, long, ArrayView<float>>? _targetCountGrouped;
    private Action<KernelConfig, ArrayView<float>, int, ArrayView<float>, float, float, ArrayView<float>, int>? _lossMeanGrouped;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float, float, int, int>? _temperedKlRowsGrouped;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<long>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, long, float, float, float, float, int>? _linearCeKlRowsGrouped;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, RelationDims>? _relationRowsGrouped;
    private Action<KernelConfig, ArrayView<float>, ArrayView<int>, ArrayView<int>, ArrayView<double>, ArrayView<float>, ArrayView<double>, ArrayView<sbyte>, ArrayView<float>, int, int>? _gptqRowsGrouped;

    // a group of RowGroup threads for each of count rows
    private static KernelConfig Groups(int count) => new(count, IlgpuKernels.RowGroup);

    private Action<Index1D, ArrayView<byte>, int, StridedLayout, ArrayView<byte>, int, StridedLayout, int>? _copy;
    private Action<Index1D, ArrayView<byte>, int, StridedLayout, double>? _fill;
    private Action<Index1D, ArrayView<float>, StridedLayout, ArrayView<float>, int>? _unary;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>? _unaryBackward;
    private Action<Index1D, ArrayView<float>, StridedLayout, ArrayView<float>, StridedLayout, ArrayView<float>, int>? _binary;
    private Action<Index1D, ArrayView<float>, StridedLayout, ArrayView<float>, float, int, int>? _binaryScalar;
    private Action<Index1D, ArrayView<float>, StridedLayout, ArrayView<float>, StridedLayout, ArrayView<byte>, int>? _compare;
    private Action<Index1D, ArrayView<byte>, StridedLayout, ArrayView<float>, StridedLayout, ArrayView<float>, StridedLayout, ArrayView<float>>? _where;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, int, int>? _reduceRows;
    private Action<Index1D, ArrayView<float>, ArrayView<long>, int, int>? _argRows;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, int, int>? _softmaxRows;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, int>? _lseRows;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float, int>? _rmsNorm;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float, int>? _rmsNormBackward;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>? _rmsNormWeightGrad;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<long>, ArrayView<float>, int, long, float>? _ceBackward;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>? _rope;
    private Action<Index1D, ArrayView<byte>, ArrayView<long>, ArrayView<byte>, int, int, int, int>? _indexSelect;
    private Action<Index1D, ArrayView<float>, ArrayView<long>, ArrayView<float>, int, int, int>? _indexAdd;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, int, int, int, int, int, int, int>? _sgemm;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, int, int, int, int, int, int, int>? _sgemmPerElement;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<long>, ArrayView<float>, int, long>? _ceRowLosses;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, float, float, float, float, float, float>? _adamW;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, float, float, int, int>? _sgd;
    private Action<Index1D, ArrayView<float>, ArrayView<double>, int, int>? _sumSq;
    private Action<Index1D, ArrayView<float>, float>? _scale;
    private Action<Index1D, ArrayView<sbyte>, ArrayView<float>, ArrayView<byte>, ArrayView<float>, ArrayView<float>, int, int, int, int>? _ternaryMatMul;

    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AttentionDims>? _attention;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AttentionDims>? _attentionBackQuery;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AttentionDims>? _attentionBackKey;

    private Action<Index1D, ArrayView<float>, ArrayView<sbyte>, ArrayView<float>, int>? _quantizeActivations;
    private Action<Index1D, ArrayView<float>, ArrayView<double>, int>? _rowAbsSums;
    private Action<Index1D, ArrayView<double>, ArrayView<float>, int, int, int>? _absMeanScales;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<sbyte>, ArrayView<float>, int, int>? _ternarize;
    private Action<Index1D, ArrayView<sbyte>, ArrayView<float>, ArrayView<sbyte>, ArrayView<float>, ArrayView<float>, int, int, int>? _ternaryCodesMatMul;

    private Action<Index1D, ArrayView<float>, int, int, float, ArrayView<float>>? _keptCount;
    private Action<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<int>, ArrayView<double>, ArrayView<float>, ArrayView<double>, ArrayView<sbyte>, ArrayView<float>, int, int>? _gptqRows;
    private Action<Index1D, ArrayView<double>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, float>? _gptqScales;
    private Action<Index1D, ArrayView<float>, int, ArrayView<float>, int, ArrayView<double>>? _calibrationChecks;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<sbyte>, ArrayView<float>, ArrayView<double>, int>? _awqRowStats;
    private Action<Index1D, ArrayView<double>, ArrayView<float>, int, int, int, float, ArrayView<double>, int>? _awqGridError;
    private Action<Index1D, ArrayView<long>, int, long, ArrayView<float>>? _targetCount;
    private Action<Index1D, ArrayView<float>, int, ArrayView<float>, float, float, ArrayView<float>, int>? _lossMean;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float, float, int, int>? _temperedKlRows;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<long>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, long, float, float, float, float, int>? _linearCeKlRows;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, RelationDims>? _relationRows;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, RelationDims>? _relationGrad;

    public void Copy(int n, ArrayView<byte> src, int st, StridedLayout ls, ArrayView<byte> dst, int dt, StridedLayout ld, int size) =>
        (_copy ??= a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<byte>, int, StridedLayout, ArrayView<byte>, int, StridedLayout, int>(IlgpuKernels.Copy))(n, src, st, ls, dst, dt, ld, size);

    public void Fill(int n, ArrayView<byte> dst, int dt, StridedLayout ld, double value) =>
        (_fill ??= a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<byte>, int, StridedLayout, double>(IlgpuKernels.Fill))(n, dst, dt, ld, value);

    public void Unary(int n, ArrayView<float> x, StridedLayout lx, ArrayView<float> y, int op) =>
        (_unary ??= a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, StridedLayout, ArrayView<float>, int>(IlgpuKernels.Unary))(n, x, lx, y, op);

    public void UnaryBackward(int n, ArrayView<float> x, ArrayView<float> y, ArrayView<float> g, ArrayView<float> o, int op) =>
        (_unaryBackward ??= a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(IlgpuKernels.UnaryBackward))(n, x, y, g, o, op);

    public void Binary(int n, ArrayView<float> x, StridedLayout lx, ArrayView<float> y, StridedLayout ly, ArrayView<float> o, int op) =>
        (_binary ??= a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, StridedLayout, ArrayView<float>, StridedLayout, ArrayView<float>, int>(IlgpuKernels.Binary))(n, x, lx, y, ly, o, op);

    public void BinaryScalar(int n, ArrayView<float> x, StridedLayout lx, ArrayView<float> y, float s, int op, int scalarFirst) =>
        (_binaryScalar ??= a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, StridedLayout, ArrayView<float>, float, int, int>(IlgpuKernels.BinaryScalar))(n, x, lx, y, s, op, scalarFirst);

    public void Compare(int n, ArrayView<float> x, StridedLayout lx, ArrayView<float> y, StridedLayout ly, ArrayView<byte> o, int op) =>
        (_compare ??= a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, StridedLayout, ArrayView<float>, StridedLayout, ArrayView<byte>, int>(IlgpuKernels.Compare))(n, x, lx, y, ly, o, op);

    public void Where(int n, ArrayView<byte> c, StridedLayout lc, ArrayView<float> x, StridedLayout lx, ArrayView<float> y, StridedLayout ly, ArrayView<float> o) =>
        (_where ??= a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<byte>, StridedLayout, ArrayView<float>, StridedLayout, ArrayView<float>, StridedLayout, ArrayView<float>>(IlgpuKernels.Where))(n, c, lc, x, lx, y, ly, o);

    public void ReduceRows(int rows, ArrayView<float> x, ArrayView<float> y, int n, int op)
    {
        if (rows == 0) return; // an empty grid is not a valid CUDA launch
        if (groupRows) (_reduceRowsGrouped ??= a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int>(IlgpuKernels.ReduceRowsGrouped))(Groups(rows), x, y, n, op);
        else (_reduceRows ??= a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int>(IlgpuKernels.ReduceRows))(rows, x, y, n, op);
    }

    public void ArgRows(int rows, ArrayView<float> x, ArrayView<long> y, int n, int max)
    {
        if (rows == 0) return; // an empty grid is not a valid CUDA launch
        if (groupRows) (_argRowsGrouped ??= a.LoadStreamKernel<ArrayView<float>, ArrayView<long>, int, int>(IlgpuKernels.ArgRowsGrouped))(Groups(rows), x, y, n, max);
        else (_argRows ??= a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<long>, int, int>(IlgpuKernels.ArgRows))(rows, x, y, n, max);
    }

    public void SoftmaxRows(int rows, ArrayView<float> x, ArrayView<float> y, int n, int log)
    {
        if (rows == 0) return; // an empty grid is not a valid CUDA launch
        if (groupRows) (_softmaxRowsGrouped ??= a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int>(IlgpuKernels.SoftmaxRowsGrouped))(Groups(rows), x, y, n, log);
        else (_softmaxRows ??= a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int>(IlgpuKernels.SoftmaxRows))(rows, x, y, n, log);
    }

    public void LogSumExpRows(int rows, ArrayView<float> x, ArrayView<float> y, int n)
    {
        if (rows == 0) return; // an empty grid is not a valid CUDA launch
        if (groupRows) (_lseRowsGrouped ??= a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int>(IlgpuKernels.LogSumExpRowsGrouped))(Groups(rows), x, y, n);
        else (_lseRows ??= a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int>(IlgpuKernels.LogSumExpRows))(rows, x, y, n);
    }

    public void RmsNormRows(int rows, ArrayView<float> x, ArrayView<float> w, ArrayView<float> y, int n, float eps, int hasWeight)
    {
        if (rows == 0) return; // an empty grid is not a valid CUDA launch
        if (groupRows) (_rmsNormGrouped ??= a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float, int>(IlgpuKernels.RmsNormRowsGrouped))(Groups(rows), x, w, y, n, eps, hasWeight);
        else (_rmsNorm ??= a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float, int>(IlgpuKernels.RmsNormRows))(rows, x, w, y, n, eps, hasWeight);
    }

    public void RmsNormBackwardRows(int rows, ArrayView<float> x, ArrayView<float> w, ArrayView<float> g, ArrayView<float> dx, ArrayView<float> rstd, int n, float eps, int hasWeight)
    {
        if (rows == 0) return; // an empty grid is not a valid CUDA launch
        if (groupRows)
            (_rmsNormBackwardGrouped ??= a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float, int>(IlgpuKernels.RmsNormBackwardRowsGrouped))(
                Groups(rows), x, w, g, dx, rstd, n, eps, hasWeight);
        else
            (_rmsNormBackward ??= a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float, int>(IlgpuKernels.RmsNormBackwardRows))(
                rows, x, w, g, dx, rstd, n, eps, hasWeight);
    }

    public void RmsNormWeightGrad(int n, ArrayView<float> x, ArrayView<float> g, ArrayView<float> rstd, ArrayView<float> dw, int rows, int cols) =>
        (_rmsNormWeightGrad ??= a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(IlgpuKernels.RmsNormWeightGrad))(n, x, g, rstd, dw, rows, cols);

    public void CrossEntropyBackwardRows(int rows, ArrayView<float> logits, ArrayView<float> lse, ArrayView<long> targets, ArrayView<float> y, int n, long ignoreIndex, float scale)
    {
        if (groupRows) // no reduction: the GPUs' form is a thread per element
            (_ceBackwardElements ??= a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<long>, ArrayView<float>, int, long, float>(IlgpuKernels.CrossEntropyBackwardElements))(
                rows * n, logits, lse, targets, y, n, ignoreIndex, scale);
        else
            (_ceBackward ??= a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<long>, ArrayView<float>, int, long, float>(IlgpuKernels.CrossEntropyBackwardRows))(
                rows, logits, lse, targets, y, n, ignoreIndex, scale);
    }

    public void Rope(int n, ArrayView<float> x, ArrayView<float> cos, ArrayView<float> sin, ArrayView<float> y, int t, int d, int transpose) =>
        (_rope ??= a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(IlgpuKernels.Rope))(n, x, cos, sin, y, t, d, transpose);

    public void IndexSelect(int n, ArrayView<byte> x, ArrayView<long> idx, ArrayView<byte> y, int axisLen, int nIdx, int inner, int size) =>
        (_indexSelect ??= a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<byte>, ArrayView<long>, ArrayView<byte>, int, int, int, int>(IlgpuKernels.IndexSelect))(n, x, idx, y, axisLen, nIdx, inner, size);

    public void IndexAdd(int n, ArrayView<float> src, ArrayView<long> idx, ArrayView<float> y, int axisLen, int nIdx, int inner) =>
        (_indexAdd ??= a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<long>, ArrayView<float>, int, int, int>(IlgpuKernels.IndexAdd))(n, src, idx, y, axisLen, nIdx, inner);

    public void Sgemm(Index3D grid, ArrayView<float> x, ArrayView<float> w, ArrayView<float> y, ArrayView<int> offsets, int m, int n, int k, int sam, int sak, int sbk, int sbn) =>
        (_sgemm ??= a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, int, int, int, int, int, int, int>(IlgpuKernels.Sgemm))(
            new KernelConfig(grid, new Index3D(IlgpuKernels.Tile, IlgpuKernels.Tile, 1)), x, w, y, offsets, m, n, k, sam, sak, sbk, sbn);

    public void SgemmPerElement(int count, ArrayView<float> x, ArrayView<float> w, ArrayView<float> y, ArrayView<int> offsets, int m, int n, int k, int sam, int sak, int sbk, int sbn) =>
        (_sgemmPerElement ??= a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, int, int, int, int, int, int, int>(IlgpuKernels.SgemmPerElement))(
            count, x, w, y, offsets, m, n, k, sam, sak, sbk, sbn);

    public void CrossEntropyRowLosses(int rows, ArrayView<float> logits, ArrayView<float> lse, ArrayView<long> targets, ArrayView<float> y, int n, long ignoreIndex) =>
        (_ceRowLosses ??= a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<long>, ArrayView<float>, int, long>(IlgpuKernels.CrossEntropyRowLosses))(rows, logits, lse, targets, y, n, ignoreIndex);

    public void AdamW(int n, ArrayView<float> p, ArrayView<float> g, ArrayView<float> m, ArrayView<float> v, float b1c, float b2, float b2c, float eps, float decay, float stepSize, float inv) =>
        (_adamW ??= a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, float, float, float, float, float, float>(IlgpuKernels.AdamW))(n, p, g, m, v, b1c, b2, b2c, eps, decay, stepSize, inv);

    public void Sgd(int n, ArrayView<float> p, ArrayView<float> g, ArrayView<float> buf, float lr, float momentum, float weightDecay, int nesterov, int first) =>
        (_sgd ??= a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, float, float, int, int>(IlgpuKernels.Sgd))(n, p, g, buf, lr, momentum, weightDecay, nesterov, first);

    public void SumOfSquaresChunks(int chunks, ArrayView<float> x, ArrayView<double> partial, int n, int chunk) =>
        (_sumSq ??= a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<double>, int, int>(IlgpuKernels.SumOfSquaresChunks))(chunks, x, partial, n, chunk);

    public void Scale(int n, ArrayView<float> x, float factor) =>
        (_scale ??= a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, float>(IlgpuKernels.Scale))(n, x, factor);

    public void TernaryMatMul(int n, ArrayView<sbyte> codes, ArrayView<float> xScales, ArrayView<byte> packed, ArrayView<float> wScales, ArrayView<float> y, int rows, int k, int rowBytes, int perRow) =>
        (_ternaryMatMul ??= a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<sbyte>, ArrayView<float>, ArrayView<byte>, ArrayView<float>, ArrayView<float>, int, int, int, int>(IlgpuKernels.TernaryMatMul))(n, codes, xScales, packed, wScales, y, rows, k, rowBytes, perRow);

    public void AttentionForward(int rows, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> mask, ArrayView<float> o, ArrayView<float> lse, AttentionDims d) =>
        (_attention ??= a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AttentionDims>(IlgpuKernels.AttentionForward))(rows, q, k, v, mask, o, lse, d);

    public void AttentionBackwardQuery(int rows, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> mask, ArrayView<float> o, ArrayView<float> lse,
        ArrayView<float> g, ArrayView<float> delta, ArrayView<float> dq, AttentionDims d) =>
        (_attentionBackQuery ??= a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AttentionDims>(IlgpuKernels.AttentionBackwardQuery))(rows, q, k, v, mask, o, lse, g, delta, dq, d);

    public void AttentionBackwardKey(int rows, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> mask, ArrayView<float> lse,
        ArrayView<float> g, ArrayView<float> delta, ArrayView<float> dk, ArrayView<float> dv, AttentionDims d) =>
        (_attentionBackKey ??= a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AttentionDims>(IlgpuKernels.AttentionBackwardKey))(rows, q, k, v, mask, lse, g, delta, dk, dv, d);

    public void QuantizeActivationRows(int rows, ArrayView<float> x, ArrayView<sbyte> q, ArrayView<float> scales, int k) =>
        (_quantizeActivations ??= a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<sbyte>, ArrayView<float>, int>(IlgpuKernels.QuantizeActivationRows))(rows, x, q, scales, k);

    public void RowAbsSums(int rows, ArrayView<float> w, ArrayView<double> sums, int k) =>
        (_rowAbsSums ??= a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<double>, int>(IlgpuKernels.RowAbsSums))(rows, w, sums, k);

    public void AbsMeanScales(int count, ArrayView<double> sums, ArrayView<float> scales, int k, int rows, int perTensor) =>
        (_absMeanScales ??= a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<double>, ArrayView<float>, int, int, int>(IlgpuKernels.AbsMeanScales))(count, sums, scales, k, rows, perTensor);

    public void TernarizeElements(int n, ArrayView<float> w, ArrayView<float> roundScales, ArrayView<float> scales, ArrayView<sbyte> codes, ArrayView<float> dequantized, int k, int perTensor) =>
        (_ternarize ??= a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<sbyte>, ArrayView<float>, int, int>(IlgpuKernels.TernarizeElements))(n, w, roundScales, scales, codes, dequantized, k, perTensor);

    public void TernaryCodesMatMul(int n, ArrayView<sbyte> x, ArrayView<float> xScales, ArrayView<sbyte> w, ArrayView<float> wScales, ArrayView<float> y, int rows, int k, int perRow) =>
        (_ternaryCodesMatMul ??= a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<sbyte>, ArrayView<float>, ArrayView<sbyte>, ArrayView<float>, ArrayView<float>, int, int, int>(IlgpuKernels.TernaryCodesMatMul))(n, x, xScales, w, wScales, y, rows, k, perRow);

    public void KeptCount(ArrayView<float> mask, int n, int hasMask, float factor, ArrayView<float> count)
    {
        if (groupRows) (_keptCountGrouped ??= a.LoadStreamKernel<ArrayView<float>, int, int, float, ArrayView<float>>(IlgpuKernels.KeptCountGrouped))(Groups(1), mask, n, hasMask, factor, count);
        else (_keptCount ??= a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, int, int, float, ArrayView<float>>(IlgpuKernels.KeptCount))(1, mask, n, hasMask, factor, count);
    }

    public void TargetCount(ArrayView<long> targets, int n, long ignoreIndex, ArrayView<float> count)
    {
        if (groupRows) (_targetCountGrouped ??= a.LoadStreamKernel<ArrayView<long>, int, long, ArrayView<float>>(IlgpuKernels.TargetCountGrouped))(Groups(1), targets, n, ignoreIndex, count);
        else (_targetCount ??= a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<long>, int, long, ArrayView<float>>(IlgpuKernels.TargetCount))(1, targets, n, ignoreIndex, count);
    }

    public void LossMean(ArrayView<float> rows, int n, ArrayView<float> count, float hostDivisor, float scale, ArrayView<float> result, int slot)
    {
        if (groupRows)
            (_lossMeanGrouped ??= a.LoadStreamKernel<ArrayView<float>, int, ArrayView<float>, float, float, ArrayView<float>, int>(IlgpuKernels.LossMeanGrouped))(Groups(1), rows, n, count, hostDivisor, scale, result, slot);
        else
            (_lossMean ??= a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, int, ArrayView<float>, float, float, ArrayView<float>, int>(IlgpuKernels.LossMean))(1, rows, n, count, hostDivisor, scale, result, slot);
    }

    public void TemperedKlRows(int rows, ArrayView<float> s, ArrayView<float> t, ArrayView<float> mask, ArrayView<float> count, ArrayView<float> rowKl, int n,
        float invTau, float tau, int hasMask, int withGrad)
    {
        if (rows == 0) return; // an empty grid is not a valid CUDA launch
        if (groupRows)
            (_temperedKlRowsGrouped ??= a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float, float, int, int>(IlgpuKernels.TemperedKlRowsGrouped))(
                Groups(rows), s, t, mask, count, rowKl, n, invTau, tau, hasMask, withGrad);
        else
            (_temperedKlRows ??= a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float, float, int, int>(IlgpuKernels.TemperedKlRows))(
                rows, s, t, mask, count, rowKl, n, invTau, tau, hasMask, withGrad);
    }

    public void LinearCeKlRows(int rows, ArrayView<float> s, ArrayView<float> t, ArrayView<long> targets, ArrayView<float> count, ArrayView<float> ceRow, ArrayView<float> klRow,
        int n, long ignoreIndex, float invTau, float tau, float ceScale, float logitsWeight, int withGrad)
    {
        if (rows == 0) return; // an empty grid is not a valid CUDA launch
        if (groupRows)
            (_linearCeKlRowsGrouped ??= a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<long>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, long, float, float, float, float, int>(IlgpuKernels.LinearCeKlRowsGrouped))(
                Groups(rows), s, t, targets, count, ceRow, klRow, n, ignoreIndex, invTau, tau, ceScale, logitsWeight, withGrad);
        else
            (_linearCeKlRows ??= a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<long>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, long, float, float, float, float, int>(IlgpuKernels.LinearCeKlRows))(
                rows, s, t, targets, count, ceRow, klRow, n, ignoreIndex, invTau, tau, ceScale, logitsWeight, withGrad);
    }

    public void RelationRows(int rows, ArrayView<float> a0, ArrayView<float> at, ArrayView<float> mask, ArrayView<float> rowKl, ArrayView<float> g, RelationDims d)
    {
        if (rows == 0) return; // an empty grid is not a valid CUDA launch
        if (groupRows)
            (_relationRowsGrouped ??= a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, RelationDims>(IlgpuKernels.RelationRowsGrouped))(Groups(rows), a0, at, mask, rowKl, g, d);
        else
            (_relationRows ??= a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, RelationDims>(IlgpuKernels.RelationRows))(rows, a0, at, mask, rowKl, g, d);
    }

    public void RelationGrad(int n, ArrayView<float> a0, ArrayView<float> g, ArrayView<float> count, ArrayView<float> grad, RelationDims d) =>
        (_relationGrad ??= a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, RelationDims>(IlgpuKernels.RelationGrad))(n, a0, g, count, grad, d);

    public void CalibrationChecks(ArrayView<float> w, int count, ArrayView<float> gram, int k, ArrayView<double> checks) =>
        (_calibrationChecks ??= a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, int, ArrayView<float>, int, ArrayView<double>>(IlgpuKernels.CalibrationChecks))(1, w, count, gram, k, checks);

    public void AwqRowStats(int rows, ArrayView<float> w, ArrayView<float> gram, ArrayView<sbyte> codes, ArrayView<float> inputScales, ArrayView<double> stats, int k) =>
        (_awqRowStats ??= a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<sbyte>, ArrayView<float>, ArrayView<double>, int>(IlgpuKernels.AwqRowStats))(rows, w, gram, codes, inputScales, stats, k);

    public void AwqGridError(ArrayView<double> stats, ArrayView<float> scales, int n, int perRow, int refit, float minScale, ArrayView<double> errors, int slot) =>
        (_awqGridError ??= a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<double>, ArrayView<float>, int, int, int, float, ArrayView<double>, int>(IlgpuKernels.AwqGridError))(1, stats, scales, n, perRow, refit, minScale, errors, slot);

    public void GptqRows(int rows, ArrayView<float> w, ArrayView<int> perm, ArrayView<int> dead, ArrayView<double> u, ArrayView<float> scales,
        ArrayView<double> work, ArrayView<sbyte> codes, ArrayView<float> feedback, int k, int perRow)
    {
        if (rows == 0) return; // an empty grid is not a valid CUDA launch
        if (groupRows)
            (_gptqRowsGrouped ??= a.LoadStreamKernel<ArrayView<float>, ArrayView<int>, ArrayView<int>, ArrayView<double>, ArrayView<float>, ArrayView<double>, ArrayView<sbyte>, ArrayView<float>, int, int>(IlgpuKernels.GptqRowsGrouped))(
                Groups(rows), w, perm, dead, u, scales, work, codes, feedback, k, perRow);
        else
            (_gptqRows ??= a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<int>, ArrayView<double>, ArrayView<float>, ArrayView<double>, ArrayView<sbyte>, ArrayView<float>, int, int>(IlgpuKernels.GptqRows))(
                rows, w, perm, dead, u, scales, work, codes, feedback, k, perRow);
    }

    public void GptqScales(ArrayView<double> stats, ArrayView<float> scales, ArrayView<float> outScales, ArrayView<float> rounding, int n, int perRow, int refit, float minScale) =>
        (_gptqScales ??= a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<double>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, float>(IlgpuKernels.GptqScales))(1, stats, scales, outScales, rounding, n, perRow, refit, minScale);
}
