using BitDistill.Kernels;
using BitDistill.Tensors;
using ILGPU;
using ILGPU.Runtime;
using Device = BitDistill.Tensors.Device;

namespace BitDistill.Backends.Ilgpu;

/// <summary>The device backend: tensors in accelerator memory (<see cref="IlgpuStorage"/>) and the backend operations as
/// ILGPU kernels (CUDA, OpenCL, or ILGPU's CPU emulator for tests). Host↔device traffic happens only in the explicit
/// transfers (<see cref="IBackend.CopyToHost"/>, <see cref="IBackend.CopyFromHost"/>), in index validation, and in the fused
/// operations this backend does not override yet (they run their host references through those transfers).</summary>
public sealed partial class IlgpuBackend : IBackend, IDisposable
{
    private readonly Context _context;
    private readonly Accelerator _accelerator;
    private readonly IlgpuKernelSet _k;

    internal IlgpuBackend(Device device, Context context, Accelerator accelerator, bool tiledSgemm, bool groupRowKernels)
    {
        Device = device; _context = context; _accelerator = accelerator; TiledSgemm = tiledSgemm; GroupRowKernels = groupRowKernels;
        _k = new IlgpuKernelSet(accelerator, groupRowKernels);
    }

    /// <summary>Whether matrix products run on the tiled shared-memory SGEMM (GPUs) or on the one-thread-per-element kernel
    /// (the CPU emulator's default, where group barriers are OS-thread switches).</summary>
    public bool TiledSgemm { get; }

    /// <summary>Whether the row kernels (reductions, softmax, norms, the fused losses' rows) run as the GPUs' forms, a
    /// thread group per row with shared-memory reductions, or one thread per row (the CPU emulator's default, for the same
    /// reason as <see cref="TiledSgemm"/>).</summary>
    public bool GroupRowKernels { get; }

    public Device Device { get; }

    /// <summary>The ILGPU accelerator the tensors live on.</summary>
    public Accelerator Accelerator => _accelerator;

    public void Dispose() { _accelerator.Dispose(); _context.Dispose(); }

    public Storage Allocate(DType dtype, int length) => Allocate(dtype, length, clear: true);

    // Buffers of at least this many bytes come from the pool inside a TensorScope; smaller ones are not worth tracking.
    private const long PooledMinBytes = 4096;
    private IlgpuBufferPool? _pool;

    /// <summary>The pool of scope-owned device buffers (tests read its counters).</summary>
    internal IlgpuBufferPool Pool => _pool ??= new IlgpuBufferPool(_accelerator);

    private IlgpuStorage Allocate(DType dtype, int length, bool clear)
    {
        long bytes = IlgpuStorage.BufferBytes(dtype, length);
        if (TensorScope.Current is null || bytes < PooledMinBytes)
        {
            var buffer = _accelerator.Allocate1D<byte>(bytes);
            buffer.MemSetToZero();
            return new IlgpuStorage(buffer, dtype, length, Device, null);
        }
        var pooled = Pool.Rent(bytes);
        if (clear) pooled.MemSetToZero();
        var s = new IlgpuStorage(pooled, dtype, length, Device, Pool);
        TensorScope.Adopt(s);
        return s;
    }

    private IlgpuStorage S(Tensor t) => t.Storage as IlgpuStorage is { } s && s.Device == Device ? s
        : throw new ArgumentException($"a tensor on {t.Device} was passed to the {Device} backend; move it with Tensor.To(device) first");

    private Tensor New(int[] shape, DType dtype = DType.Float32) => Tensor.Empty(shape, dtype, Device);

    /// <summary>x as float32 (converted on the device if needed).</summary>
    private static Tensor F(Tensor x) => x.DType == DType.Float32 ? x : x.To(DType.Float32);

    private static StridedLayout L(Tensor t) => StridedLayout.Walk(t.Shape, (t.Offset, t.Strides.ToArray()))[0];

    private ArrayView<float> V(Tensor t) => S(t).View<float>();

    /// <summary>A float32 view that is never read (the kernels' stand-in for an absent optional tensor).</summary>
    private ArrayView<float> Dummy => (_dummy ??= (IlgpuStorage)Allocate(DType.Float32, 1)).View<float>();
    private IlgpuStorage? _dummy;

    public void Synchronize() => _accelerator.Synchronize();

    private long _hostReads;

    /// <summary>How many device→host copies this backend has made (tests count a loss's reads with it).</summary>
    public long HostReads => Interlocked.Read(ref _hostReads);

    public void CopyToHost(Tensor src, Span<byte> dst)
    {
        if (!src.IsContiguous) throw new ArgumentException("host copies need a contiguous tensor");
        Interlocked.Increment(ref _hostReads);
        int size = src.DType.SizeOf();
        if (dst.Length != src.Count * size) throw new ArgumentException($"host buffer of {dst.Length} bytes for {src.Count} × {size}-byte elements");
        if (dst.Length == 0) return;
        _accelerator.Synchronize();
        S(src).Raw.SubView((long)src.Offset * size, dst.Length).CopyToCPU(dst);
    }

    public void CopyFromHost(ReadOnlySpan<byte> src, Tensor dst)
    {
        if (!dst.IsContiguous) throw new ArgumentException("host copies need a contiguous tensor");
        int size = dst.DType.SizeOf();
        if (src.Length != dst.Count * size) throw new ArgumentException($"host buffer of {src.Length} bytes for {dst.Count} × {size}-byte elements");
        if (src.Length == 0) return;
        S(dst).Raw.SubView((long)dst.Offset * size, src.Length).CopyFromCPU(src);
    }

    public void Copy(Tensor src, Tensor dst)
    {
        if (!src.Shape.SequenceEqual(dst.Shape)) throw new ArgumentException($"copy shape {Tensor.ShapeString(src.Shape)} → {Tensor.ShapeString(dst.Shape)}");
        if (dst.Count == 0) return;
        if (src.Device != Device) src = src.To(Device);
        if (src.DType != dst.DType && (src.DType == DType.Float16 || dst.DType == DType.Float16))
            throw new NotSupportedException($"the ILGPU backend does not convert {src.DType} → {dst.DType} (float16 conversions are not implemented on the device)");
        var l = StridedLayout.Walk(dst.Shape, (src.Offset, src.Strides.ToArray()), (dst.Offset, dst.Strides.ToArray()));
        _k.Copy(dst.Count, S(src).Raw, (int)src.DType, l[0], S(dst).Raw, (int)dst.DType, l[1], dst.DType.SizeOf());
    }

    public void Fill(Tensor dst, double value)
    {
        if (dst.Count == 0) return;
        if (dst.DType == DType.Float16) throw new NotSupportedException("the ILGPU backend does not fill float16 tensors");
        _k.Fill(dst.Count, S(dst).Raw, (int)dst.DType, L(dst), value);
    }

    public Tensor Unary(UnaryOp op, Tensor x)
    {
        x = F(x);
        var y = New(x.ShapeArray);
        if (y.Count > 0) _k.Unary(y.Count, V(x), L(x), V(y), (int)op);
        return y;
    }

    public Tensor Binary(BinaryOp op, Tensor a, Tensor b)
    {
        a = F(a); b = F(b);
        var shape = Broadcast.Shape(a.Shape, b.Shape);
        var y = New(shape);
        if (y.Count == 0) return y;
        var l = StridedLayout.Walk(shape, (a.Offset, Broadcast.Strides(a, shape)), (b.Offset, Broadcast.Strides(b, shape)));
        _k.Binary(y.Count, V(a), l[0], V(b), l[1], V(y), (int)op);
        return y;
    }

    public Tensor BinaryScalar(BinaryOp op, Tensor x, float scalar, bool scalarFirst)
    {
        x = F(x);
        var y = New(x.ShapeArray);
        if (y.Count > 0) _k.BinaryScalar(y.Count, V(x), L(x), V(y), scalar, (int)op, scalarFirst ? 1 : 0);
        return y;
    }

    public Tensor Compare(CompareOp op, Tensor a, Tensor b)
    {
        a = F(a); b = F(b);
        var shape = Broadcast.Shape(a.Shape, b.Shape);
        var y = New(shape, DType.Bool);
        if (y.Count == 0) return y;
        var l = StridedLayout.Walk(shape, (a.Offset, Broadcast.Strides(a, shape)), (b.Offset, Broadcast.Strides(b, shape)));
        _k.Compare(y.Count, V(a), l[0], V(b), l[1], S(y).Raw, (int)op);
        return y;
    }

    public Tensor Where(Tensor cond, Tensor a, Tensor b)
    {
        if (cond.DType != DType.Bool) cond = cond.To(DType.Bool);
        a = F(a); b = F(b);
        var shape = Broadcast.Shape(Broadcast.Shape(cond.Shape, a.Shape), b.Shape);
        var y = New(shape);
        if (y.Count == 0) return y;
        var l = StridedLayout.Walk(shape, (cond.Offset, Broadcast.Strides(cond, shape)), (a.Offset, Broadcast.Strides(a, shape)), (b.Offset, Broadcast.Strides(b, shape)));
        _k.Where(y.Count, S(cond).Raw, l[0], V(a), l[1], V(b), l[2], V(y));
        return y;
    }

    private static int[] ReducedShape(Tensor x, int[] axes, bool keepDim)
    {
        var r = new List<int>();
        for (int i = 0; i < x.Rank; i++)
            if (!axes.Contains(i)) r.Add(x.Shape[i]);
            else if (keepDim) r.Add(1);
        return r.ToArray();
    }

    /// <summary>x with the given axes moved last, contiguous, as [rows, n].</summary>
    private static (Tensor rows, int n) AxesLast(Tensor x, int[] axes)
    {
        var perm = Enumerable.Range(0, x.Rank).Where(i => !axes.Contains(i)).Concat(axes).ToArray();
        int n = 1; foreach (var a in axes) n *= x.Shape[a];
        var c = x.Permute(perm).Contiguous();
        return (c.Reshape(n == 0 ? 0 : c.Count / n, n), n);
    }

    public Tensor Reduce(ReduceOp op, Tensor x, int[] axes, bool keepDim)
    {
        x = F(x);
        var outShape = ReducedShape(x, axes, keepDim);
        int rows = Tensor.Empty(outShape, DType.Float32, Device.Meta).Count;
        int n = 1; foreach (var a in axes) n *= x.Shape[a];
        if (n == 0)
        {
            if (op is ReduceOp.Max or ReduceOp.Min && rows > 0) throw new ArgumentException($"{op} over an empty axis of shape {Tensor.ShapeString(x.Shape)}");
            var z = New(outShape);
            if (op == ReduceOp.Mean) z.Fill(double.NaN);
            return z;
        }
        var y = New(outShape);
        if (rows == 0) return y;
        var (xr, _) = AxesLast(x, axes);
        _k.ReduceRows(rows, Vc(xr), V(y), n, (int)op);
        return y;
    }

    public Tensor ArgReduce(bool max, Tensor x, int axis, bool keepDim)
    {
        x = F(x);
        if (x.Shape[axis] == 0) throw new ArgumentException($"argmax over an empty axis of shape {Tensor.ShapeString(x.Shape)}");
        var y = New(ReducedShape(x, [axis], keepDim), DType.Int64);
        if (y.Count == 0) return y;
        var (xr, n) = AxesLast(x, [axis]);
        _k.ArgRows(y.Count, Vc(xr), S(y).View<long>(), n, max ? 1 : 0);
        return y;
    }

    public Tensor Softmax(Tensor x, int axis, bool log)
    {
        x = F(x);
        if (x.Count == 0) return New(x.ShapeArray);
        var xt = x.Transpose(axis, -1).Contiguous();
        var y = New(xt.ShapeArray);
        int n = x.Shape[axis];
        _k.SoftmaxRows(xt.Count / n, Vc(xt), V(y), n, log ? 1 : 0);
        return y.Transpose(axis, -1).Contiguous();
    }

    public Tensor MatMul(Tensor a, Tensor b)
    {
        if (a.Rank < 1 || b.Rank < 1) throw new ArgumentException("matmul needs tensors of rank ≥ 1");
        a = F(a); b = F(b);
        var a2 = a.Rank == 1 ? a.Unsqueeze(0) : a;
        var b2 = b.Rank == 1 ? b.Unsqueeze(1) : b;
        int m = a2.Shape[^2], k = a2.Shape[^1], k2 = b2.Shape[^2], n = b2.Shape[^1];
        if (k != k2) throw new ArgumentException($"matmul shapes {Tensor.ShapeString(a.Shape)} and {Tensor.ShapeString(b.Shape)} do not agree on the inner dimension");
        var batch = Broadcast.Shape(a2.Shape[..^2], b2.Shape[..^2]);
        var ab = a2.Expand([.. batch, m, k]);
        var bb = b2.Expand([.. batch, k, n]);
        var y = New([.. batch, m, n]);
        int nb = 1; foreach (var d in batch) nb *= d;
        if (y.Count > 0 && k > 0)
        {
            var offsets = new int[nb * 3];
            var idx = new int[batch.Length];
            for (int z = 0; z < nb; z++)
            {
                int ao = ab.Offset, bo = bb.Offset;
                for (int d = 0; d < batch.Length; d++) { ao += idx[d] * ab.Strides[d]; bo += idx[d] * bb.Strides[d]; }
                offsets[z * 3] = ao; offsets[z * 3 + 1] = bo; offsets[z * 3 + 2] = z * m * n;
                for (int d = batch.Length - 1; d >= 0 && ++idx[d] == batch[d]; d--) idx[d] = 0;
            }
            var off = Tensor.FromArray(offsets, [offsets.Length], Device);
            if (TiledSgemm)
                _k.Sgemm(new Index3D((n + IlgpuKernels.Tile - 1) / IlgpuKernels.Tile, (m + IlgpuKernels.Tile - 1) / IlgpuKernels.Tile, nb),
                    V(ab), V(bb), V(y), S(off).View<int>(), m, n, k, ab.Strides[^2], ab.Strides[^1], bb.Strides[^2], bb.Strides[^1]);
            else
                _k.SgemmPerElement(y.Count, V(ab), V(bb), V(y), S(off).View<int>(), m, n, k, ab.Strides[^2], ab.Strides[^1], bb.Strides[^2], bb.Strides[^1]);
        }
        if (a.Rank == 1) y = y.Squeeze(-2);
        if (b.Rank == 1) y = y.Squeeze(-1);
        return y;
    }

    /// <summary>The indices as a contiguous Int64 device tensor, checked against the axis length (a device→host read of
    /// the indices: an out-of-range index must be an error, not a wild read).</summary>
    private Tensor CheckedIndices(Tensor indices, int axisLen, int axis)
    {
        if (indices.DType is not (DType.Int32 or DType.Int64)) throw new ArgumentException($"indices must be Int32 or Int64, got {indices.DType}");
        var ix = indices.To(DType.Int64).Contiguous();
        if (ix.Device != Device) ix = ix.To(Device);
        foreach (var sel in ix.ToArray<long>())
            if (sel < 0 || sel >= axisLen) throw new IndexOutOfRangeException($"index {sel} out of range for dim {axis} of size {axisLen}");
        return ix;
    }

    public Tensor IndexSelect(Tensor x, int axis, Tensor indices)
    {
        var ix = CheckedIndices(indices, x.Shape[axis], axis);
        var xc = x.Contiguous();
        int outer = 1, inner = 1;
        for (int i = 0; i < axis; i++) outer *= x.Shape[i];
        for (int i = axis + 1; i < x.Rank; i++) inner *= x.Shape[i];
        var y = New([.. x.Shape[..axis], .. indices.Shape, .. x.Shape[(axis + 1)..]], x.DType);
        if (y.Count > 0)
            _k.IndexSelect(y.Count, SubRaw(xc), S(ix).View<long>(), S(y).Raw, x.Shape[axis], ix.Count, inner, x.DType.SizeOf());
        return y;
    }

    /// <summary>The raw bytes of a contiguous tensor from its first element.</summary>
    private ArrayView<byte> SubRaw(Tensor t)
    {
        long size = t.DType.SizeOf();
        return S(t).Raw.SubView(t.Offset * size, Math.Max(1, t.Count) * size);
    }

    public Tensor Concat(IReadOnlyList<Tensor> xs, int axis)
    {
        var shape = xs[0].ShapeArray;
        shape[axis] = xs.Sum(t => t.Shape[axis]);
        var y = New(shape, xs[0].DType);
        int start = 0;
        foreach (var t in xs) { Copy(t, y.Narrow(axis, start, t.Shape[axis])); start += t.Shape[axis]; }
        return y;
    }

    public Tensor RmsNorm(Tensor x, Tensor? weight, float eps)
    {
        var xc = F(x).Contiguous();
        var w = weight is null ? null : F(weight).Contiguous();
        var y = New(x.ShapeArray);
        int d = x.Shape[^1];
        if (y.Count > 0) _k.RmsNormRows(y.Count / d, Vc(xc), w is null ? Dummy : Vc(w), V(y), d, eps, w is null ? 0 : 1);
        return y;
    }

    /// <summary>The float view of a contiguous tensor from its first element.</summary>
    private ArrayView<float> Vc(Tensor t) => V(t).SubView(t.Offset, Math.Max(1, t.Count));

    public Tensor Rope(Tensor x, Tensor cos, Tensor sin, bool transpose = false)
    {
        var xc = F(x).Contiguous();
        var c = F(cos).Contiguous(); var s = F(sin).Contiguous();
        int t = x.Shape[^2], d = x.Shape[^1];
        if (c.Count != t * d || s.Count != t * d) throw new ArgumentException($"rope: cos/sin must be [{t}, {d}], got {Tensor.ShapeString(cos.Shape)} and {Tensor.ShapeString(sin.Shape)}");
        var y = New(x.ShapeArray);
        if (y.Count > 0) _k.Rope(y.Count, Vc(xc), Vc(c), Vc(s), V(y), t, d, transpose ? 1 : 0);
        return y;
    }

    public Tensor IndexAdd(int[] shape, int axis, Tensor indices, Tensor src)
    {
        var ix = CheckedIndices(indices, shape[axis], axis);
        var sc = F(src).Contiguous();
        int outer = 1, inner = 1;
        for (int i = 0; i < axis; i++) outer *= shape[i];
        for (int i = axis + 1; i < shape.Length; i++) inner *= shape[i];
        var y = New(shape);
        if (outer * inner > 0 && ix.Count > 0) _k.IndexAdd(outer * inner, Vc(sc), S(ix).View<long>(), V(y), shape[axis], ix.Count, inner);
        return y;
    }

    public Tensor UnaryBackward(UnaryOp op, Tensor x, Tensor y, Tensor g)
    {
        if (op is UnaryOp.Sign or UnaryOp.Erf) throw new NotSupportedException($"the ILGPU backend has no derivative for {op}");
        var xc = F(x).Contiguous(); var yc = F(y).Contiguous(); var gc = F(g).Contiguous();
        var o = New(x.ShapeArray);
        if (o.Count > 0) _k.UnaryBackward(o.Count, Vc(xc), Vc(yc), Vc(gc), V(o), (int)op);
        return o;
    }

    public (Tensor dx, Tensor? dw) RmsNormBackward(Tensor x, Tensor? weight, float eps, Tensor g)
    {
        var xc = F(x).Contiguous(); var gc = F(g).Contiguous();
        var w = weight is null ? null : F(weight).Contiguous();
        int d = x.Shape[^1], rows = d == 0 ? 0 : x.Count / d;
        var dx = New(x.ShapeArray);
        var rstd = New([Math.Max(1, rows)]);
        if (dx.Count > 0) _k.RmsNormBackwardRows(rows, Vc(xc), w is null ? Dummy : Vc(w), Vc(gc), V(dx), V(rstd), d, eps, w is null ? 0 : 1);
        if (w is null) return (dx, null);
        var dw = New([d]);
        if (d > 0) _k.RmsNormWeightGrad(d, Vc(xc), Vc(gc), V(rstd), V(dw), rows, d);
        return (dx, dw);
    }

    public Tensor LogSumExp(Tensor x)
    {
        var xc = F(x).Contiguous();
        int d = x.Shape[^1];
        var y = New(x.Shape[..^1].ToArray());
        if (y.Count > 0) _k.LogSumExpRows(y.Count, Vc(xc), V(y), d);
        return y;
    }

    public Tensor CrossEntropyBackward(Tensor logits, Tensor lse, Tensor targets, long ignoreIndex, float scale)
    {
        int n = logits.Shape[0], c = logits.Shape[1];
        var lc = F(logits).Contiguous(); var l = F(lse).Contiguous();
        var t = targets.To(DType.Int64).Contiguous();
        var y = New([n, c]);
        if (y.Count > 0) _k.CrossEntropyBackwardRows(n, Vc(lc), Vc(l), S(t).View<long>().SubView(t.Offset, n), V(y), c, ignoreIndex, scale);
        return y;
    }
}
