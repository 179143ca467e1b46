using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using BitDistill.Kernels;

namespace BitDistill.Tensors;

/// <summary>The fast CPU backend: SIMD kernels from BitDistill.Kernels, multithreaded with static partitioning.</summary>
public sealed partial class CpuBackend(Device device) : IBackend
{
    public Device Device { get; } = device;

    public Storage Allocate(DType dtype, int length) => TensorScope.Allocate(dtype, length, Device);

    private static ManagedStorage M(Tensor t) => t.Storage as ManagedStorage
        ?? throw new NotSupportedException($"the CPU backend cannot read {t.Device} memory");

    private Tensor New(int[] shape, DType dtype = DType.Float32) => Tensor.Empty(shape, dtype, Device);

    // For outputs the kernel overwrites completely: a reused pool buffer is not zero-filled first.
    private Tensor Out(int[] shape, DType dtype = DType.Float32) => Tensor.Uninitialized(shape, dtype, Device);

    private static void RequireFloat(Tensor t, string op)
    {
        if (t.DType != DType.Float32) throw new ArgumentException($"{op} needs Float32 tensors, got {t.DType} (convert with To(DType.Float32))");
    }

    /// <summary>A contiguous float32 span of a tensor (copying only when it is not contiguous).</summary>
    private static ReadOnlySpan<float> Floats(ref Tensor t)
    {
        if (t.DType != DType.Float32) t = t.To(DType.Float32);
        t = t.Contiguous();
        return M(t).AsSpan<float>().Slice(t.Offset, t.Count);
    }

    // ---------------------------------------------------------------- copy / fill

    public void Copy(Tensor src, Tensor dst)
    {
        if (!src.Shape.SequenceEqual(dst.Shape)) throw new ArgumentException($"copy shape {Tensor.ShapeString(src.Shape)} → {Tensor.ShapeString(dst.Shape)}");
        if (src.Count == 0) return;
        if (src.DType == dst.DType) { CopySameType(src, dst); return; }
        // convert through contiguous buffers: strided → contiguous (same type) → converted → strided
        var s = src.Contiguous();
        var d = dst.IsContiguous ? dst : New(dst.ShapeArray, dst.DType);
        Convert(M(s), s.Offset, M(d), d.Offset, s.Count);
        if (!ReferenceEquals(d, dst)) CopySameType(d, dst);
    }

    private static void CopySameType(Tensor src, Tensor dst)
    {
        int size = src.DType.SizeOf();
        var sb = M(src).AsBytes(); var db = M(dst).AsBytes();
        if (src.IsContiguous && dst.IsContiguous)
        {
            sb.Slice(src.Offset * size, src.Count * size).CopyTo(db.Slice(dst.Offset * size, dst.Count * size));
            return;
        }
        var (shape, st) = Broadcast.Coalesce(dst.Shape, dst.Strides.ToArray(), Broadcast.Strides(src, dst.Shape));
        int inner = shape[^1], dIn = st[0][^1], sIn = st[1][^1];
        int rows = dst.Count / inner;
        var dstS = M(dst); var srcS = M(src);
        int dOff0 = dst.Offset, sOff0 = src.Offset;
        StaticParallel.For(rows, inner, (r0, r1) =>
        {
            var db2 = dstS.AsBytes(); var sb2 = srcS.AsBytes();
            for (int r = r0; r < r1; r++)
            {
                int dOff = dOff0 + RowOffset(r, shape, st[0]), sOff = sOff0 + RowOffset(r, shape, st[1]);
                if (dIn == 1 && sIn == 1) { sb2.Slice(sOff * size, inner * size).CopyTo(db2.Slice(dOff * size, inner * size)); continue; }
                switch (size)
                {
                    case 4: StridedCopy(MemoryMarshal.Cast<byte, int>(sb2), sOff, sIn, MemoryMarshal.Cast<byte, int>(db2), dOff, dIn, inner); break;
                    case 2: StridedCopy(MemoryMarshal.Cast<byte, short>(sb2), sOff, sIn, MemoryMarshal.Cast<byte, short>(db2), dOff, dIn, inner); break;
                    case 8: StridedCopy(MemoryMarshal.Cast<byte, long>(sb2), sOff, sIn, MemoryMarshal.Cast<byte, long>(db2), dOff, dIn, inner); break;
                    default: StridedCopy(sb2, sOff, sIn, db2, dOff, dIn, inner); break;
                }
            }
        });
    }

    private static void StridedCopy<T>(Span<T> s, int so, int ss, Span<T> d, int dof, int ds, int n)
    {
        for (int i = 0; i < n; i++) d[dof + i * ds] = s[so + i * ss];
    }

    /// <summary>For a float32 tensor whose rows (last dim) are contiguous but whose other dims may be permuted (a transposed
    /// head layout): its storage, and a function from row index to the row's start; otherwise a contiguous copy's.</summary>
    private static (ManagedStorage storage, Func<int, int> rowStart) Rows(Tensor t)
    {
        int d = t.Rank == 0 ? 1 : t.Shape[^1];
        if (t.DType == DType.Float32 && !t.IsContiguous && t.Rank >= 2 && (t.Strides[^1] == 1 || d == 1))
        {
            var shape = t.ShapeArray; var strides = t.Strides.ToArray(); int off = t.Offset;
            return (M(t), r => off + RowOffset(r, shape, strides));
        }
        var c = t; Floats(ref c);
        int o = c.Offset;
        return (M(c), r => o + r * d);
    }

    /// <summary>Offset (relative) of the start of row r of a coalesced iteration space.</summary>
    internal static int RowOffset(int r, int[] shape, int[] strides)
    {
        int off = 0;
        for (int d = shape.Length - 2; d >= 0; d--)
        {
            int n = shape[d];
            off += (r % n) * strides[d];
            r /= n;
        }
        return off;
    }

    private static void Convert(ManagedStorage s, int so, ManagedStorage d, int dof, int n)
    {
        if (d.DType == DType.Float32)
        {
            var dst = d.AsSpan<float>().Slice(dof, n);
            switch (s.DType)
            {
                case DType.BFloat16: NumericConvert.BFloat16ToSingle(s.AsSpan<ushort>().Slice(so, n), dst); return;
                case DType.Float16: NumericConvert.HalfToSingle(s.AsSpan<Half>().Slice(so, n), dst); return;
                case DType.Int32: { var src = s.AsSpan<int>().Slice(so, n); for (int i = 0; i < n; i++) dst[i] = src[i]; return; }
                case DType.Int8: { var src = s.AsSpan<sbyte>().Slice(so, n); for (int i = 0; i < n; i++) dst[i] = src[i]; return; }
            }
        }
        else if (s.DType == DType.Float32)
        {
            var src = s.AsSpan<float>().Slice(so, n);
            switch (d.DType)
            {
                case DType.BFloat16: NumericConvert.SingleToBFloat16(src, d.AsSpan<ushort>().Slice(dof, n)); return;
                case DType.Float16: NumericConvert.SingleToHalf(src, d.AsSpan<Half>().Slice(dof, n)); return;
            }
        }
        for (int i = 0; i < n; i++) Scalars.Set(d, dof + i, Scalars.Get(s, so + i));
    }

    public void Fill(Tensor dst, double value)
    {
        if (dst.Count == 0) return;
        var ms = M(dst);
        if (dst.IsContiguous)
        {
            switch (dst.DType)
            {
                case DType.Float32: ms.AsSpan<float>().Slice(dst.Offset, dst.Count).Fill((float)value); return;
                case DType.Int32: ms.AsSpan<int>().Slice(dst.Offset, dst.Count).Fill((int)value); return;
                case DType.Int64: ms.AsSpan<long>().Slice(dst.Offset, dst.Count).Fill((long)value); return;
            }
        }
        var one = New([1], dst.DType);
        Scalars.Set(M(one), 0, value);
        CopySameType(one.Expand(dst.ShapeArray), dst);
    }

    // ---------------------------------------------------------------- elementwise

    public Tensor Unary(UnaryOp op, Tensor x)
    {
        RequireFloat(x, op.ToString());
        var xs = x; var src = Floats(ref xs);
        var o = Out(x.ShapeArray);
        var os = M(o); var xm = M(xs); int xo = xs.Offset, n = x.Count;
        int cost = op is UnaryOp.GeluErf or UnaryOp.Erf or UnaryOp.Sign ? 64 : 8;
        ForChunks(n, cost, (s, e) => Elementwise.Unary(op, xm.AsSpan<float>().Slice(xo + s, e - s), os.AsSpan<float>().Slice(s, e - s)));
        return o;
    }

    /// <summary>Splits [0, n) into per-thread chunks (aligned to 64 elements) for span kernels.</summary>
    private static void ForChunks(int n, int costPerElement, Action<int, int> body)
    {
        int blocks = (n + 63) / 64;
        StaticParallel.For(blocks, 64L * costPerElement, (b0, b1) => body(b0 * 64, Math.Min(n, b1 * 64)));
    }

    public Tensor Binary(BinaryOp op, Tensor a, Tensor b)
    {
        RequireFloat(a, op.ToString()); RequireFloat(b, op.ToString());
        var shape = Broadcast.Shape(a.Shape, b.Shape);
        var o = Out(shape);
        if (o.Count == 0) return o;
        if (a.IsContiguous && b.IsContiguous && a.Count == o.Count && b.Count == o.Count)
        {
            var am = M(a); var bm = M(b); var om = M(o); int ao = a.Offset, bo = b.Offset;
            ForChunks(o.Count, 2, (s, e) => Elementwise.Binary(op, am.AsSpan<float>().Slice(ao + s, e - s), bm.AsSpan<float>().Slice(bo + s, e - s), om.AsSpan<float>().Slice(s, e - s)));
            return o;
        }
        var (cs, st) = Broadcast.Coalesce(shape, o.Strides.ToArray(), Broadcast.Strides(a, shape), Broadcast.Strides(b, shape));
        if (st[1][^1] > 1) return Binary(op, a.Contiguous(), b);
        if (st[2][^1] > 1) return Binary(op, a, b.Contiguous());
        int inner = cs[^1], rows = o.Count / inner;
        var amm = M(a); var bmm = M(b); var omm = M(o); int a0 = a.Offset, b0 = b.Offset;
        StaticParallel.For(rows, inner * 2L, (r0, r1) =>
        {
            var af = amm.AsSpan<float>(); var bf = bmm.AsSpan<float>(); var of = omm.AsSpan<float>();
            for (int r = r0; r < r1; r++)
            {
                int ao = a0 + RowOffset(r, cs, st[1]), bo = b0 + RowOffset(r, cs, st[2]);
                var y = of.Slice(r * inner, inner);
                bool av = st[1][^1] == 1, bv = st[2][^1] == 1;
                if (av && bv) Elementwise.Binary(op, af.Slice(ao, inner), bf.Slice(bo, inner), y);
                else if (av) Elementwise.BinaryRight(op, af.Slice(ao, inner), bf[bo], y);
                else if (bv) Elementwise.BinaryLeft(op, af[ao], bf.Slice(bo, inner), y);
                else y.Fill(Elementwise.BinaryScalar(op, af[ao], bf[bo]));
            }
        });
        return o;
    }

    public Tensor BinaryScalar(BinaryOp op, Tensor x, float scalar, bool scalarFirst)
    {
        RequireFloat(x, op.ToString());
        var xs = x; Floats(ref xs);
        var o = Out(x.ShapeArray);
        var xm = M(xs); var om = M(o); int xo = xs.Offset;
        ForChunks(x.Count, 2, (s, e) =>
        {
            var src = xm.AsSpan<float>().Slice(xo + s, e - s); var dst = om.AsSpan<float>().Slice(s, e - s);
            if (scalarFirst) Elementwise.BinaryLeft(op, scalar, src, dst); else Elementwise.BinaryRight(op, src, scalar, dst);
        });
        return o;
    }

    // Generic broadcast loop over up to three operands with a per-element function (comparisons, where).
    private Tensor Elementwise3(Tensor[] ins, DType outType, Func<double[], double> f)
    {
        var shape = ins.Select(t => t.ShapeArray).Aggregate((x, y) => Broadcast.Shape(x, y));
        var o = New(shape, outType);
        if (o.Count == 0) return o;
        var strides = new int[ins.Length + 1][];
        strides[0] = o.Strides.ToArray();
        for (int i = 0; i < ins.Length; i++) strides[i + 1] = Broadcast.Strides(ins[i], shape);
        var (cs, st) = Broadcast.Coalesce(shape, strides);
        int inner = cs[^1], rows = o.Count / inner;
        var ms = ins.Select(M).ToArray(); var om = M(o);
        StaticParallel.For(rows, inner * 4L, (r0, r1) =>
        {
            var v = new double[ins.Length];
            var offs = new int[ins.Length];
            for (int r = r0; r < r1; r++)
            {
                for (int k = 0; k < ins.Length; k++) offs[k] = ins[k].Offset + RowOffset(r, cs, st[k + 1]);
                for (int i = 0; i < inner; i++)
                {
                    for (int k = 0; k < ins.Length; k++) v[k] = Scalars.Get(ms[k], offs[k] + i * st[k + 1][^1]);
                    Scalars.Set(om, r * inner + i, f(v));
                }
            }
        });
        return o;
    }

    public Tensor Compare(CompareOp op, Tensor a, Tensor b) => Elementwise3([a, b], DType.Bool, v => Scalars.Compare(op, v[0], v[1]) ? 1 : 0);

    public Tensor Where(Tensor cond, Tensor a, Tensor b)
    {
        RequireFloat(a, "where"); RequireFloat(b, "where");
        return Elementwise3([cond, a, b], DType.Float32, v => v[0] != 0 ? v[1] : v[2]);
    }

    // ---------------------------------------------------------------- reductions

    public Tensor Reduce(ReduceOp op, Tensor x, int[] axes, bool keepDim)
    {
        RequireFloat(x, op.ToString());
        var kept = Enumerable.Range(0, x.Rank).Where(d => !axes.Contains(d)).ToArray();
        var outShape = Enumerable.Range(0, x.Rank).Where(d => keepDim || !axes.Contains(d)).Select(d => axes.Contains(d) ? 1 : x.Shape[d]).ToArray();
        int outer = kept.Aggregate(1, (p, d) => p * x.Shape[d]);
        int inner = axes.Aggregate(1, (p, d) => p * x.Shape[d]);
        if (inner == 0 && op is ReduceOp.Max or ReduceOp.Min) throw new ArgumentException($"{op} over an empty axis of shape {Tensor.ShapeString(x.Shape)}");
        var o = New(outShape);
        if (o.Count == 0) return o;
        var om = M(o);
        // Leading axes reduced on a contiguous tensor: accumulate whole rows (vectorised along the kept dims).
        bool leading = axes.All(a => a < axes.Length) && x.IsContiguous;
        if (leading && inner > 1 && outer >= 16)
        {
            var xm = M(x); int xo = x.Offset;
            ForChunks(outer, inner, (c0, c1) =>
            {
                var dst = om.AsSpan<float>().Slice(c0, c1 - c0);
                var src = xm.AsSpan<float>();
                src.Slice(xo + c0, c1 - c0).CopyTo(dst);
                for (int r = 1; r < inner; r++)
                {
                    var row = src.Slice(xo + r * outer + c0, c1 - c0);
                    if (op is ReduceOp.Sum or ReduceOp.Mean) Elementwise.Binary(BinaryOp.Add, dst, row, dst);
                    else Elementwise.Binary(op == ReduceOp.Max ? BinaryOp.Maximum : BinaryOp.Minimum, dst, row, dst);
                }
                if (op == ReduceOp.Mean) Elementwise.BinaryRight(BinaryOp.Mul, dst, 1f / inner, dst);
            });
            return o;
        }
        // General: move reduced axes last, make rows contiguous, reduce each row.
        var perm = kept.Concat(axes).ToArray();
        var p = x.Permute(perm).Contiguous();
        var pm = M(p); int po = p.Offset;
        StaticParallel.For(outer, inner, (r0, r1) =>
        {
            var src = pm.AsSpan<float>(); var dst = om.AsSpan<float>();
            for (int r = r0; r < r1; r++)
            {
                var row = src.Slice(po + r * inner, inner);
                dst[r] = op switch
                {
                    ReduceOp.Sum => SumRow(row),
                    ReduceOp.Mean => SumRow(row) / inner,
                    ReduceOp.Max => MaxRow(row, true),
                    _ => MaxRow(row, false),
                };
            }
        });
        return o;
    }

    private static float SumRow(ReadOnlySpan<float> row)
    {
        if (KernelContext.Current.Use128) return TensorPrimitives.Sum(row);
        float s = 0; foreach (var v in row) s += v; return s;
    }

    private static float MaxRow(ReadOnlySpan<float> row, bool max)
    {
        if (KernelContext.Current.Use128) return max ? TensorPrimitives.Max(row) : TensorPrimitives.Min(row);
        float m = row[0];
        foreach (var v in row) m = float.IsNaN(m) || float.IsNaN(v) ? float.NaN : max ? MathF.Max(m, v) : MathF.Min(m, v);
        return m;
    }

    public Tensor ArgReduce(bool max, Tensor x, int axis, bool keepDim)
    {
        RequireFloat(x, "argmax");
        int n = x.Shape[axis];
        if (n == 0) throw new ArgumentException($"argmax over an empty axis of shape {Tensor.ShapeString(x.Shape)}");
        var p = x.Transpose(axis, -1).Contiguous();
        int rows = p.Count / n;
        var outShape = x.ShapeArray; outShape[axis] = 1;
        var o = New(outShape, DType.Int64);
        var pm = M(p); var om = M(o); int po = p.Offset;
        var ot = o.Transpose(axis, -1); // same element order as p's rows
        var oc = ot.IsContiguous ? null : New(ot.ShapeArray, DType.Int64);
        var target = oc is null ? om : M(oc);
        int to = oc is null ? ot.Offset : 0;
        StaticParallel.For(rows, n, (r0, r1) =>
        {
            var src = pm.AsSpan<float>(); var dst = target.AsSpan<long>();
            for (int r = r0; r < r1; r++)
            {
                var row = src.Slice(po + r * n, n);
                int best = 0; float bv = row[0];
                for (int i = 1; i < n && !float.IsNaN(bv); i++)
                    if (float.IsNaN(row[i]) || (max ? row[i] > bv : row[i] < bv)) { best = i; bv = row[i]; }
                dst[to + r] = best;
            }
        });
        if (oc is not null) CopySameType(oc, ot);
        return keepDim ? o : o.Squeeze(axis);
    }

    public Tensor Softmax(Tensor x, int axis, bool log)
    {
        RequireFloat(x, "softmax");
        bool last = axis == x.Rank - 1;
        var p = (last ? x : x.Transpose(axis, -1)).Contiguous();
        int n = p.Shape[^1];
        var o = Out(p.ShapeArray);
        if (o.Count == 0) return o;
        int rows = p.Count / n;
        var pm = M(p); var om = M(o); int po = p.Offset;
        StaticParallel.For(rows, n * 8L, (r0, r1) =>
        {
            var src = pm.AsSpan<float>(); var dst = om.AsSpan<float>();
            for (int r = r0; r < r1; r++)
            {
                if (log) RowKernels.LogSoftmax(src.Slice(po + r * n, n), dst.Slice(r * n, n));
                else RowKernels.Softmax(src.Slice(po + r * n, n), dst.Slice(r * n, n));
            }
        });
        return last ? o : o.Transpose(axis, -1).Contiguous();
    }

    // ---------------------------------------------------------------- matmul

    public Tensor MatMul(Tensor a, Tensor b)
    {
        RequireFloat(a, "matmul"); RequireFloat(b, "matmul");
        if (a.Rank < 1 || b.Rank < 1) throw new ArgumentException("matmul needs tensors of rank ≥ 1");
        // [..., M, K] row-major · [K, N]: the leading dims fold into M, so it is one product (no batch loop)
        if (b.Rank == 2 && a.Rank > 2 && a.IsContiguous && a.Shape[^1] == b.Shape[0])
        {
            var flat = MatMul(a.Reshape(-1, a.Shape[^1]), b);
            return flat.Reshape([.. a.Shape[..^1], b.Shape[1]]);
        }
        var a2 = a.Rank == 1 ? a.Unsqueeze(0) : a;
        var b2 = b.Rank == 1 ? b.Unsqueeze(1) : b;
        int m = a2.Shape[^2], k = a2.Shape[^1], n = b2.Shape[^1];
        if (k != b2.Shape[^2]) throw new ArgumentException($"matmul shapes {Tensor.ShapeString(a.Shape)} and {Tensor.ShapeString(b.Shape)} do not agree on the inner dimension ({k} vs {b2.Shape[^2]})");
        var batch = Broadcast.Shape(a2.Shape[..^2], b2.Shape[..^2]);
        var o = k == 0 ? New([.. batch, m, n]) : Out([.. batch, m, n]);
        if (o.Count == 0) return o;
        if (k == 0) return o;
        var (ta, lda, aT) = MatrixLayout(a2);
        var (tb, ldb, bT) = MatrixLayout(b2);
        int nb = batch.Aggregate(1, (p, d) => p * d);
        var aOff = BatchOffsets(aT, batch); var bOff = BatchOffsets(bT, batch);
        var af = M(aT).AsSpan<float>(); var bf = M(bT).AsSpan<float>(); var of = M(o).AsSpan<float>();
        long sA = Uniform(aOff), sB = Uniform(bOff);
        if (nb == 1 && m == 1 && tb && ldb == k && !ta && k > 0)
        {
            // one row times a transposed contiguous [N, K] matrix (x·Wᵀ while decoding): a GEMV streams W once; SGEMM
            // would pack all of W for a single row
            Gemv.MultiplyF32(bf.Slice(bOff[0], n * k), n, k, af.Slice(aOff[0], k), of[..n]);
        }
        else if (sA >= 0 && sB >= 0)
            Sgemm.MultiplyBatched(nb, ta, tb, m, n, k, 1f, af[aOff[0]..], lda, sA, bf[bOff[0]..], ldb, sB, 0f, of, n, (long)m * n);
        else
            for (int i = 0; i < nb; i++)
                Sgemm.Multiply(ta, tb, m, n, k, 1f, af[aOff[i]..], lda, bf[bOff[i]..], ldb, 0f, of.Slice(i * m * n, m * n), n);
        var r = o;
        if (a.Rank == 1) r = r.Squeeze(-2);
        if (b.Rank == 1) r = r.Squeeze(-1);
        return r;
    }

    // (transposed?, leading dimension, tensor whose last two dims are a plain or transposed matrix)
    private static (bool trans, int ld, Tensor t) MatrixLayout(Tensor x)
    {
        int r = x.Shape[^2], c = x.Shape[^1], sr = x.Strides[^2], sc = x.Strides[^1];
        if ((sc == 1 || c == 1) && (sr >= c || r == 1)) return (false, Math.Max(sr, c), x);
        if ((sr == 1 || r == 1) && (sc >= r || c == 1)) return (true, Math.Max(sc, r), x);
        var cx = x.Contiguous();
        return (false, c, cx);
    }

    private static int[] BatchOffsets(Tensor x, int[] batch)
    {
        int nb = batch.Aggregate(1, (p, d) => p * d);
        var offs = new int[nb];
        int lead = batch.Length - (x.Rank - 2);
        for (int i = 0; i < nb; i++)
        {
            int rem = i, off = x.Offset;
            for (int d = batch.Length - 1; d >= 0; d--)
            {
                int idx = rem % batch[d]; rem /= batch[d];
                int xd = d - lead;
                if (xd >= 0 && x.Shape[xd] != 1) off += idx * x.Strides[xd];
            }
            offs[i] = off;
        }
        return offs;
    }

    // The common stride if offsets form an arithmetic progression, else -1.
    private static long Uniform(int[] offs)
    {
        if (offs.Length == 1) return 0;
        long s = offs[1] - offs[0];
        if (s < 0) return -1;
        for (int i = 2; i < offs.Length; i++) if (offs[i] - offs[i - 1] != s) return -1;
        return s;
    }

    // ---------------------------------------------------------------- gather / concat

    public Tensor IndexSelect(Tensor x, int axis, Tensor indices)
    {
        if (indices.DType is not (DType.Int32 or DType.Int64)) throw new ArgumentException($"indices must be Int32 or Int64, got {indices.DType}");
        var idx = (indices.DType == DType.Int64 ? indices : indices.To(DType.Int64)).Contiguous();
        var ids = M(idx).AsSpan<long>().Slice(idx.Offset, idx.Count);
        int dim = x.Shape[axis];
        foreach (var v in ids)
            if ((ulong)v >= (ulong)dim) throw new IndexOutOfRangeException($"index {v} is out of range for dim {axis} of size {dim} (shape {Tensor.ShapeString(x.Shape)})");
        var xc = x.Contiguous();
        int outer = 1; for (int d = 0; d < axis; d++) outer *= x.Shape[d];
        int inner = 1; for (int d = axis + 1; d < x.Rank; d++) inner *= x.Shape[d];
        var o = Out([.. x.Shape[..axis], .. indices.Shape, .. x.Shape[(axis + 1)..]], x.DType);
        if (o.Count == 0) return o;
        int size = x.DType.SizeOf(), k = ids.Length;
        var xm = M(xc); var om = M(o); int xo = xc.Offset;
        var idArr = ids.ToArray();
        StaticParallel.For(outer * k, inner, (r0, r1) =>
        {
            var src = xm.AsBytes(); var dst = om.AsBytes();
            for (int r = r0; r < r1; r++)
            {
                int oi = r / k, j = r % k;
                int s = xo + (oi * dim + (int)idArr[j]) * inner;
                src.Slice(s * size, inner * size).CopyTo(dst.Slice(r * inner * size, inner * size));
            }
        });
        return o;
    }

    public Tensor Concat(IReadOnlyList<Tensor> xs, int axis)
    {
        var shape = xs[0].ShapeArray;
        shape[axis] = xs.Sum(t => t.Shape[axis]);
        var o = New(shape, xs[0].DType);
        int start = 0;
        foreach (var t in xs) { Copy(t, o.Narrow(axis, start, t.Shape[axis])); start += t.Shape[axis]; }
        return o;
    }

    // ---------------------------------------------------------------- fused rows

    public Tensor RmsNorm(Tensor x, Tensor? weight, float eps)
    {
        RequireFloat(x, "rms_norm");
        var xs = x; Floats(ref xs);
        int d = x.Shape[^1], rows = x.Count / Math.Max(1, d);
        var o = Out(x.ShapeArray);
        var w = weight?.Contiguous();
        var xm = M(xs); var om = M(o); int xo = xs.Offset;
        StaticParallel.For(rows, d * 3L, (r0, r1) =>
        {
            var wf = w is null ? ReadOnlySpan<float>.Empty : M(w).AsSpan<float>().Slice(w.Offset, d);
            var src = xm.AsSpan<float>(); var dst = om.AsSpan<float>();
            for (int r = r0; r < r1; r++) RowKernels.RmsNorm(src.Slice(xo + r * d, d), wf, eps, dst.Slice(r * d, d));
        });
        return o;
    }

    public Tensor Rope(Tensor x, Tensor cos, Tensor sin, bool transpose = false)
    {
        RequireFloat(x, "rope");
        var (xm, rowStart) = Rows(x); // a permuted [B, T, H, D] → [B, H, T, D] view is read in place
        int t = x.Shape[^2], d = x.Shape[^1], rows = x.Count / Math.Max(1, d);
        var c = cos.Contiguous(); var s = sin.Contiguous();
        if (c.Shape[^1] != d || c.Count != t * d || s.Count != t * d) throw new ArgumentException($"rope cos/sin must be [{t}, {d}], got {Tensor.ShapeString(cos.Shape)} and {Tensor.ShapeString(sin.Shape)}");
        var o = Out(x.ShapeArray);
        var om = M(o);
        StaticParallel.For(rows, d * 4L, (r0, r1) =>
        {
            var src = xm.AsSpan<float>(); var dst = om.AsSpan<float>();
            var cf = M(c).AsSpan<float>().Slice(c.Offset, t * d); var sf = M(s).AsSpan<float>().Slice(s.Offset, t * d);
            for (int r = r0; r < r1; r++)
            {
                int ti = r % t;
                RowKernels.Rope(src.Slice(rowStart(r), d), cf.Slice(ti * d, d), sf.Slice(ti * d, d), dst.Slice(r * d, d), transpose);
            }
        });
        return o;
    }

    public Tensor IndexAdd(int[] shape, int axis, Tensor indices, Tensor src)
    {
        RequireFloat(src, "index_add");
        var idx = (indices.DType == DType.Int64 ? indices : indices.To(DType.Int64)).Contiguous();
        var ids = M(idx).AsSpan<long>().Slice(idx.Offset, idx.Count).ToArray();
        int dim = shape[axis];
        foreach (var v in ids)
            if ((ulong)v >= (ulong)dim) throw new IndexOutOfRangeException($"index {v} is out of range for dim {axis} of size {dim}");
        int outer = 1; for (int d = 0; d < axis; d++) outer *= shape[d];
        int inner = 1; for (int d = axis + 1; d < shape.Length; d++) inner *= shape[d];
        var o = New(shape);
        var ss = src; Floats(ref ss);
        var sm = M(ss); var om = M(o); int so = ss.Offset, k = ids.Length;
        // parallel over outer rows and column blocks; within one output row, indices are added in order (deterministic)
        int colBlocks = Math.Max(1, inner / 256);
        StaticParallel.For(outer * colBlocks, (long)k * Math.Min(inner, 256), (r0, r1) =>
        {
            var sf = sm.AsSpan<float>(); var of = om.AsSpan<float>();
            for (int r = r0; r < r1; r++)
            {
                int oi = r / colBlocks, cb = r % colBlocks;
                var (c0, c1) = StaticParallel.Chunk(inner, colBlocks, cb);
                for (int j = 0; j < k; j++)
                {
                    var dst = of.Slice((oi * dim + (int)ids[j]) * inner + c0, c1 - c0);
                    Elementwise.Binary(BinaryOp.Add, dst, sf.Slice(so + (oi * k + j) * inner + c0, c1 - c0), dst);
                }
            }
        });
        return o;
    }

    // ---------------------------------------------------------------- fused backward

    public Tensor UnaryBackward(UnaryOp op, Tensor x, Tensor y, Tensor g)
    {
        var xs = x; Floats(ref xs); var ys = y; Floats(ref ys); var gs = g; Floats(ref gs);
        var o = Out(x.ShapeArray);
        var xm = M(xs); var ym = M(ys); var gm = M(gs); var om = M(o);
        int xo = xs.Offset, yo = ys.Offset, go = gs.Offset;
        ForChunks(x.Count, 16, (a, e) => BackwardKernels.Unary(op, xm.AsSpan<float>().Slice(xo + a, e - a), ym.AsSpan<float>().Slice(yo + a, e - a),
            gm.AsSpan<float>().Slice(go + a, e - a), om.AsSpan<float>().Slice(a, e - a)));
        return o;
    }

    public (Tensor dx, Tensor? dw) RmsNormBackward(Tensor x, Tensor? weight, float eps, Tensor g)
    {
        var xs = x; Floats(ref xs);
        var (gm, gRow) = Rows(g); // the gradient often arrives as a permuted view
        int d = x.Shape[^1], rows = x.Count / Math.Max(1, d);
        var dx = Out(x.ShapeArray);
        var w = weight?.Contiguous();
        int threads = StaticParallel.Threads(rows, d * 6L);
        // per-thread partial dw, summed in thread order afterwards (deterministic for a given thread count)
        var partial = w is null ? null : new float[threads * d];
        var xm = M(xs); var dm = M(dx); int xo = xs.Offset;
        StaticParallel.ForEachThread(threads, t =>
        {
            var (r0, r1) = StaticParallel.Chunk(rows, threads, t);
            var wf = w is null ? ReadOnlySpan<float>.Empty : M(w).AsSpan<float>().Slice(w.Offset, d);
            var dw = partial is null ? Span<float>.Empty : partial.AsSpan(t * d, d);
            for (int r = r0; r < r1; r++)
                BackwardKernels.RmsNorm(xm.AsSpan<float>().Slice(xo + r * d, d), wf, eps, gm.AsSpan<float>().Slice(gRow(r), d), dm.AsSpan<float>().Slice(r * d, d), dw);
        });
        Tensor? dwt = null;
        if (partial is not null)
        {
            dwt = New([d]);
            var acc = M(dwt).AsSpan<float>();
            for (int t = 0; t < threads; t++) Elementwise.Binary(BinaryOp.Add, acc, partial.AsSpan(t * d, d), acc);
        }
        return (dx, dwt);
    }

    public Tensor LogSumExp(Tensor x)
    {
        var xs = x; Floats(ref xs);
        int d = x.Shape[^1], rows = x.Count / Math.Max(1, d);
        var o = Out(x.Shape[..^1].ToArray());
        var xm = M(xs); var om = M(o); int xo = xs.Offset;
        StaticParallel.For(rows, d * 4L, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++) om.AsSpan<float>()[r] = BackwardKernels.LogSumExp(xm.AsSpan<float>().Slice(xo + r * d, d));
        });
        return o;
    }

    public Tensor CrossEntropyBackward(Tensor logits, Tensor lse, Tensor targets, long ignoreIndex, float scale)
    {
        var xs = logits; Floats(ref xs);
        int n = logits.Shape[0], c = logits.Shape[1];
        var t = (targets.DType == DType.Int64 ? targets : targets.To(DType.Int64)).ToArray<long>();
        var l = lse.Contiguous().ToArray<float>();
        var o = Out([n, c]);
        var xm = M(xs); var om = M(o); int xo = xs.Offset;
        StaticParallel.For(n, c * 4L, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                var g = om.AsSpan<float>().Slice(r * c, c);
                if (t[r] == ignoreIndex) { g.Clear(); continue; }
                BackwardKernels.SoftmaxCrossEntropyGrad(xm.AsSpan<float>().Slice(xo + r * c, c), l[r], (int)t[r], scale, g);
            }
        });
        return o;
    }

    public (Tensor lse, Tensor grad) CrossEntropyWithGrad(Tensor logits, Tensor targets, long ignoreIndex, float scale)
    {
        var xs = logits; Floats(ref xs);
        int n = logits.Shape[0], c = logits.Shape[1];
        var t = (targets.DType == DType.Int64 ? targets : targets.To(DType.Int64)).ToArray<long>();
        var lse = New([n]);
        var o = Out([n, c]);
        var xm = M(xs); var om = M(o); var lm = M(lse); int xo = xs.Offset;
        StaticParallel.For(n, c * 4L, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                var x = xm.AsSpan<float>().Slice(xo + r * c, c);
                var g = om.AsSpan<float>().Slice(r * c, c);
                if (t[r] == ignoreIndex) { lm.AsSpan<float>()[r] = BackwardKernels.LogSumExp(x); g.Clear(); continue; }
                lm.AsSpan<float>()[r] = BackwardKernels.LogSumExpAndCrossEntropyGrad(x, (int)t[r], scale, g);
            }
        });
        return (lse, o);
    }

    public Tensor SwiGlu(Tensor gate, Tensor up)
    {
        RequireFloat(gate, "swiglu"); RequireFloat(up, "swiglu");
        if (!gate.Shape.SequenceEqual(up.Shape)) throw new ArgumentException($"swiglu: gate {Tensor.ShapeString(gate.Shape)} and up {Tensor.ShapeString(up.Shape)} differ in shape");
        var gs = gate; Floats(ref gs); var us = up; Floats(ref us);
        var o = Out(gate.ShapeArray);
        var gm = M(gs); var um = M(us); var om = M(o); int go = gs.Offset, uo = us.Offset;
        ForChunks(o.Count, 8, (s, e) => BackwardKernels.SwiGlu(gm.AsSpan<float>().Slice(go + s, e - s), um.AsSpan<float>().Slice(uo + s, e - s), om.AsSpan<float>().Slice(s, e - s)));
        return o;
    }

    public (Tensor dgate, Tensor dup) SwiGluBackward(Tensor gate, Tensor up, Tensor g)
    {
        var gs = gate; Floats(ref gs); var us = up; Floats(ref us); var ds = g; Floats(ref ds);
        var dgate = Out(gate.ShapeArray); var dup = Out(gate.ShapeArray);
        var gm = M(gs); var um = M(us); var dm = M(ds); var am = M(dgate); var bm = M(dup);
        int go = gs.Offset, uo = us.Offset, doff = ds.Offset;
        ForChunks(gate.Count, 16, (s, e) => BackwardKernels.SwiGluBackward(gm.AsSpan<float>().Slice(go + s, e - s), um.AsSpan<float>().Slice(uo + s, e - s),
            dm.AsSpan<float>().Slice(doff + s, e - s), am.AsSpan<float>().Slice(s, e - s), bm.AsSpan<float>().Slice(s, e - s)));
        return (dgate, dup);
    }
}
