using BitDistill.Kernels;

namespace BitDistill.Tensors;

/// <summary>The scalar reference backend: one element at a time, in double precision, with the plainest possible loops.
/// It is the tests' oracle; it is slow on purpose and shares no loop code with <see cref="CpuBackend"/>.</summary>
public sealed class ReferenceBackend(Device device) : IBackend
{
    public Device Device { get; } = device;

    public Storage Allocate(DType dtype, int length) => ManagedStorage.Allocate(dtype, length, Device);

    private static ManagedStorage M(Tensor t) => t.Storage as ManagedStorage
        ?? throw new NotSupportedException($"the reference backend cannot read {t.Device} memory");

    private Tensor New(int[] shape, DType dtype = DType.Float32) => Tensor.Empty(shape, dtype, Device);

    // Calls body(index) for every multi-index of shape in row-major order.
    private static void ForEachIndex(ReadOnlySpan<int> shape, Action<int[]> body)
    {
        int n = shape.Length;
        foreach (var d in shape) if (d == 0) return;
        var idx = new int[n];
        while (true)
        {
            body(idx);
            int k = n - 1;
            while (k >= 0 && ++idx[k] == shape[k]) { idx[k] = 0; k--; }
            if (k < 0) return;
        }
    }

    private static int OffsetOf(Tensor t, int[] idx, int[] strides)
    {
        int o = t.Offset;
        for (int i = 0; i < idx.Length; i++) o += idx[i] * strides[i];
        return o;
    }

    private static double GetAt(Tensor t, int[] idx) => Scalars.Get(M(t), OffsetOf(t, idx, t.Strides.ToArray()));

    public void Copy(Tensor src, Tensor dst)
    {
        if (!src.Shape.SequenceEqual(dst.Shape)) throw new ArgumentException($"copy shape {Tensor.ShapeString(src.Shape)} → {Tensor.ShapeString(dst.Shape)}");
        var ss = src.Strides.ToArray(); var ds = dst.Strides.ToArray();
        ForEachIndex(dst.Shape, idx => Scalars.Set(M(dst), OffsetOf(dst, idx, ds), Scalars.Get(M(src), OffsetOf(src, idx, ss))));
    }

    public void Fill(Tensor dst, double value)
    {
        var ds = dst.Strides.ToArray();
        ForEachIndex(dst.Shape, idx => Scalars.Set(M(dst), OffsetOf(dst, idx, ds), value));
    }

    public Tensor Unary(UnaryOp op, Tensor x)
    {
        var o = New(x.ShapeArray);
        int i = 0;
        ForEachIndex(x.Shape, idx => Scalars.Set(M(o), i++, Scalars.Unary(op, GetAt(x, idx))));
        return o;
    }

    private Tensor Broadcast2(Tensor a, Tensor b, DType outType, Func<double, double, double> f)
    {
        var shape = Broadcast.Shape(a.Shape, b.Shape);
        var sa = Broadcast.Strides(a, shape); var sb = Broadcast.Strides(b, shape);
        var o = New(shape, outType);
        int i = 0;
        ForEachIndex(shape, idx => Scalars.Set(M(o), i++, f(Scalars.Get(M(a), OffsetOf(a, idx, sa)), Scalars.Get(M(b), OffsetOf(b, idx, sb)))));
        return o;
    }

    public Tensor Binary(BinaryOp op, Tensor a, Tensor b) => Broadcast2(a, b, DType.Float32, (x, y) => Scalars.Binary(op, x, y));

    public Tensor BinaryScalar(BinaryOp op, Tensor x, float scalar, bool scalarFirst)
    {
        var o = New(x.ShapeArray);
        int i = 0;
        ForEachIndex(x.Shape, idx =>
        {
            double v = GetAt(x, idx);
            Scalars.Set(M(o), i++, scalarFirst ? Scalars.Binary(op, scalar, v) : Scalars.Binary(op, v, scalar));
        });
        return o;
    }

    public Tensor Compare(CompareOp op, Tensor a, Tensor b) => Broadcast2(a, b, DType.Bool, (x, y) => Scalars.Compare(op, x, y) ? 1 : 0);

    public Tensor Where(Tensor cond, Tensor a, Tensor b)
    {
        var shape = Broadcast.Shape(Broadcast.Shape(cond.Shape, a.Shape), b.Shape);
        var sc = Broadcast.Strides(cond, shape); var sa = Broadcast.Strides(a, shape); var sb = Broadcast.Strides(b, shape);
        var o = New(shape);
        int i = 0;
        ForEachIndex(shape, idx =>
        {
            bool c = Scalars.Get(M(cond), OffsetOf(cond, idx, sc)) != 0;
            Scalars.Set(M(o), i++, c ? Scalars.Get(M(a), OffsetOf(a, idx, sa)) : Scalars.Get(M(b), OffsetOf(b, idx, sb)));
        });
        return o;
    }

    private static int[] ReducedShape(Tensor x, int[] axes, bool keepDim)
    {
        var r = new List<int>();
        for (int i = 0; i < x.Rank; i++)
        {
            if (axes.Contains(i)) { if (keepDim) r.Add(1); }
            else r.Add(x.Shape[i]);
        }
        return r.ToArray();
    }

    public Tensor Reduce(ReduceOp op, Tensor x, int[] axes, bool keepDim)
    {
        var outShape = ReducedShape(x, axes, keepDim);
        var keptShape = ReducedShape(x, axes, true);
        var o = New(outShape);
        var acc = new double[Math.Max(1, o.Count)];
        var cnt = new long[acc.Length];
        var keptStrides = Tensor.ContiguousStrides(keptShape);
        ForEachIndex(x.Shape, idx =>
        {
            int j = 0;
            for (int d = 0; d < idx.Length; d++) if (!axes.Contains(d)) j += idx[d] * keptStrides[d];
            double v = GetAt(x, idx);
            if (cnt[j] == 0) acc[j] = op is ReduceOp.Sum or ReduceOp.Mean ? 0 : v;
            acc[j] = op switch
            {
                ReduceOp.Sum or ReduceOp.Mean => acc[j] + v,
                ReduceOp.Max => double.IsNaN(acc[j]) || double.IsNaN(v) ? double.NaN : Math.Max(acc[j], v),
                _ => double.IsNaN(acc[j]) || double.IsNaN(v) ? double.NaN : Math.Min(acc[j], v),
            };
            cnt[j]++;
        });
        for (int j = 0; j < o.Count; j++)
        {
            if (cnt[j] == 0 && op is ReduceOp.Max or ReduceOp.Min)
                throw new ArgumentException($"{op} over an empty axis of shape {Tensor.ShapeString(x.Shape)}");
            Scalars.Set(M(o), j, op == ReduceOp.Mean ? acc[j] / cnt[j] : acc[j]);
        }
        return o;
    }

    public Tensor ArgReduce(bool max, Tensor x, int axis, bool keepDim)
    {
        var o = New(ReducedShape(x, [axis], keepDim), DType.Int64);
        var kept = ReducedShape(x, [axis], true);
        int n = x.Shape[axis];
        if (n == 0) throw new ArgumentException($"argmax over an empty axis of shape {Tensor.ShapeString(x.Shape)}");
        int j = 0;
        ForEachIndex(kept, idx =>
        {
            var k = (int[])idx.Clone();
            int best = 0; double bv = double.NaN;
            for (int i = 0; i < n; i++)
            {
                k[axis] = i;
                double v = GetAt(x, k);
                if (i == 0) { bv = v; continue; }
                if (double.IsNaN(bv)) break;
                if (double.IsNaN(v) || (max ? v > bv : v < bv)) { best = i; bv = v; }
            }
            Scalars.Set(M(o), j++, best);
        });
        return o;
    }

    public Tensor Softmax(Tensor x, int axis, bool log)
    {
        var o = New(x.ShapeArray);
        var os = o.Strides.ToArray();
        int n = x.Shape[axis];
        var kept = x.ShapeArray; kept[axis] = 1;
        ForEachIndex(kept, idx =>
        {
            var k = (int[])idx.Clone();
            double mx = double.NegativeInfinity;
            for (int i = 0; i < n; i++) { k[axis] = i; double v = GetAt(x, k); mx = double.IsNaN(v) || double.IsNaN(mx) ? double.NaN : Math.Max(mx, v); }
            double sum = 0;
            for (int i = 0; i < n; i++) { k[axis] = i; sum += Math.Exp(GetAt(x, k) - mx); }
            for (int i = 0; i < n; i++)
            {
                k[axis] = i;
                double v = GetAt(x, k) - mx;
                Scalars.Set(M(o), OffsetOf(o, k, os), log ? v - Math.Log(sum) : Math.Exp(v) / sum);
            }
        });
        return o;
    }

    public Tensor MatMul(Tensor a, Tensor b)
    {
        if (a.Rank < 1 || b.Rank < 1) throw new ArgumentException("matmul needs tensors of rank ≥ 1");
        var a2 = a.Rank == 1 ? a.Unsqueeze(0) : a;
        var b2 = b.Rank == 1 ? b.Unsqueeze(1) : b;
        int m = a2.Shape[^2], k = a2.Shape[^1], k2 = b2.Shape[^2], n = b2.Shape[^1];
        if (k != k2) throw new ArgumentException($"matmul shapes {Tensor.ShapeString(a.Shape)} and {Tensor.ShapeString(b.Shape)} do not agree on the inner dimension");
        var batch = Broadcast.Shape(a2.Shape[..^2], b2.Shape[..^2]);
        var outShape = batch.Concat(new[] { m, n }).ToArray();
        var ab = a2.Expand(batch.Concat(new[] { m, k }).ToArray());
        var bb = b2.Expand(batch.Concat(new[] { k, n }).ToArray());
        var o = New(outShape);
        int idxO = 0;
        ForEachIndex(outShape, idx =>
        {
            var ia = (int[])idx.Clone(); var ib = (int[])idx.Clone();
            int i = idx[^2], j = idx[^1];
            double s = 0;
            for (int p = 0; p < k; p++)
            {
                ia[^2] = i; ia[^1] = p; ib[^2] = p; ib[^1] = j;
                s += GetAt(ab, ia) * GetAt(bb, ib);
            }
            Scalars.Set(M(o), idxO++, s);
        });
        var result = o;
        if (a.Rank == 1) result = result.Squeeze(-2);
        if (b.Rank == 1) result = result.Squeeze(-1);
        return result;
    }

    public Tensor IndexSelect(Tensor x, int axis, Tensor indices)
    {
        if (indices.DType is not (DType.Int32 or DType.Int64)) throw new ArgumentException($"indices must be Int32 or Int64, got {indices.DType}");
        var outShape = x.Shape[..axis].ToArray().Concat(indices.Shape.ToArray()).Concat(x.Shape[(axis + 1)..].ToArray()).ToArray();
        var o = New(outShape, x.DType);
        int j = 0;
        ForEachIndex(outShape, idx =>
        {
            var ii = idx.Skip(axis).Take(indices.Rank).ToArray();
            long sel = (long)GetAt(indices, ii);
            if (sel < 0 || sel >= x.Shape[axis]) throw new IndexOutOfRangeException($"index {sel} out of range for dim {axis} of size {x.Shape[axis]}");
            var xi = idx.Take(axis).Append((int)sel).Concat(idx.Skip(axis + indices.Rank)).ToArray();
            Scalars.Set(M(o), j++, GetAt(x, xi));
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

    public Tensor RmsNorm(Tensor x, Tensor? weight, float eps)
    {
        int d = x.Shape[^1];
        var o = New(x.ShapeArray);
        var os = o.Strides.ToArray();
        var rows = x.ShapeArray; rows[^1] = 1;
        ForEachIndex(rows, idx =>
        {
            var k = (int[])idx.Clone();
            double ss = 0;
            for (int i = 0; i < d; i++) { k[^1] = i; double v = GetAt(x, k); ss += v * v; }
            double r = 1.0 / Math.Sqrt(ss / d + eps);
            for (int i = 0; i < d; i++)
            {
                k[^1] = i;
                double w = weight is null ? 1 : GetAt(weight, [i]);
                Scalars.Set(M(o), OffsetOf(o, k, os), (float)(GetAt(x, k) * r) * w);
            }
        });
        return o;
    }

    public Tensor Rope(Tensor x, Tensor cos, Tensor sin, bool transpose = false)
    {
        int t = x.Shape[^2], d = x.Shape[^1], h = d / 2;
        var o = New(x.ShapeArray);
        int j = 0;
        ForEachIndex(x.Shape, idx =>
        {
            int ti = idx[^2], i = idx[^1];
            var k = (int[])idx.Clone();
            int partner = i < h ? i + h : i - h;
            k[^1] = partner;
            double other = GetAt(x, k);
            double v = !transpose
                ? GetAt(x, idx) * GetAt(cos, [ti, i]) + (i < h ? -other : other) * GetAt(sin, [ti, i])
                : GetAt(x, idx) * GetAt(cos, [ti, i]) + (i < h ? other : -other) * GetAt(sin, [ti, partner]);
            Scalars.Set(M(o), j++, v);
        });
        return o;
    }

    public Tensor IndexAdd(int[] shape, int axis, Tensor indices, Tensor src)
    {
        var o = New(shape);
        var os = o.Strides.ToArray();
        ForEachIndex(src.Shape, idx =>
        {
            var ii = idx.Skip(axis).Take(indices.Rank).ToArray();
            long sel = (long)GetAt(indices, ii);
            if (sel < 0 || sel >= shape[axis]) throw new IndexOutOfRangeException($"index {sel} out of range for dim {axis} of size {shape[axis]}");
            var oi = idx.Take(axis).Append((int)sel).Concat(idx.Skip(axis + indices.Rank)).ToArray();
            int off = OffsetOf(o, oi, os);
            Scalars.Set(M(o), off, Scalars.Get(M(o), off) + GetAt(src, idx));
        });
        return o;
    }

    public Tensor UnaryBackward(UnaryOp op, Tensor x, Tensor y, Tensor g)
    {
        var o = New(x.ShapeArray);
        int j = 0;
        ForEachIndex(x.Shape, idx =>
        {
            double v = GetAt(x, idx), yv = GetAt(y, idx), d = op switch
            {
                UnaryOp.Neg => -1,
                UnaryOp.Abs => Math.Sign(v),
                UnaryOp.Exp => Math.Exp(v),
                UnaryOp.Log => 1 / v,
                UnaryOp.Sqrt => 0.5 / Math.Sqrt(v),
                UnaryOp.Rsqrt => -0.5 * Math.Pow(v, -1.5),
                UnaryOp.Tanh => 1 - Math.Tanh(v) * Math.Tanh(v),
                UnaryOp.Sigmoid => Math.Exp(-v) / ((1 + Math.Exp(-v)) * (1 + Math.Exp(-v))),
                UnaryOp.Silu => (1 + Math.Exp(-v) + v * Math.Exp(-v)) / ((1 + Math.Exp(-v)) * (1 + Math.Exp(-v))),
                UnaryOp.GeluTanh => GeluTanhDerivative(v),
                UnaryOp.GeluErf => 0.5 * (1 + DeterministicMath.Erf(v / Math.Sqrt(2))) + v * Math.Exp(-0.5 * v * v) / Math.Sqrt(2 * Math.PI),
                UnaryOp.Relu => v > 0 ? 1 : 0,
                UnaryOp.ReluSquared => v > 0 ? 2 * v : 0,
                UnaryOp.Square => 2 * v,
                _ => throw new NotSupportedException($"no derivative for {op}"),
            };
            _ = yv;
            Scalars.Set(M(o), j++, GetAt(g, idx) * d);
        });
        return o;

        static double GeluTanhDerivative(double v)
        {
            const double k = 0.7978845608028654, c = 0.044715;
            double t = Math.Tanh(k * (v + c * v * v * v));
            return 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * k * (1 + 3 * c * v * v);
        }
    }

    public (Tensor dx, Tensor? dw) RmsNormBackward(Tensor x, Tensor? weight, float eps, Tensor g)
    {
        int d = x.Shape[^1];
        var dx = New(x.ShapeArray);
        var dwAcc = new double[d];
        var os = dx.Strides.ToArray();
        var rows = x.ShapeArray; rows[^1] = 1;
        ForEachIndex(rows, idx =>
        {
            var k = (int[])idx.Clone();
            double ss = 0;
            for (int i = 0; i < d; i++) { k[^1] = i; double v = GetAt(x, k); ss += v * v; }
            double r = 1 / Math.Sqrt(ss / d + eps), dot = 0;
            for (int i = 0; i < d; i++) { k[^1] = i; dot += GetAt(g, k) * (weight is null ? 1 : GetAt(weight, [i])) * GetAt(x, k) * r; }
            for (int i = 0; i < d; i++)
            {
                k[^1] = i;
                double xh = GetAt(x, k) * r, gw = GetAt(g, k) * (weight is null ? 1 : GetAt(weight, [i]));
                Scalars.Set(M(dx), OffsetOf(dx, k, os), r * (gw - xh * dot / d));
                dwAcc[i] += GetAt(g, k) * xh;
            }
        });
        Tensor? dw = null;
        if (weight is not null) { dw = New([d]); for (int i = 0; i < d; i++) Scalars.Set(M(dw), i, dwAcc[i]); }
        return (dx, dw);
    }

    public Tensor LogSumExp(Tensor x)
    {
        int d = x.Shape[^1];
        var o = New(x.Shape[..^1].ToArray());
        var rows = x.ShapeArray; rows[^1] = 1;
        int j = 0;
        ForEachIndex(rows, idx =>
        {
            var k = (int[])idx.Clone();
            double m = double.NegativeInfinity;
            for (int i = 0; i < d; i++) { k[^1] = i; m = Math.Max(m, GetAt(x, k)); }
            double s = 0;
            for (int i = 0; i < d; i++) { k[^1] = i; s += Math.Exp(GetAt(x, k) - m); }
            Scalars.Set(M(o), j++, m + Math.Log(s));
        });
        return o;
    }

    public Tensor CrossEntropyBackward(Tensor logits, Tensor lse, Tensor targets, long ignoreIndex, float scale)
    {
        int n = logits.Shape[0], c = logits.Shape[1];
        var o = New([n, c]);
        for (int r = 0; r < n; r++)
        {
            long t = (long)GetAt(targets, [r]);
            if (t == ignoreIndex) continue;
            double l = GetAt(lse, [r]);
            for (int i = 0; i < c; i++)
                Scalars.Set(M(o), r * c + i, scale * (Math.Exp(GetAt(logits, [r, i]) - l) - (i == t ? 1 : 0)));
        }
        return o;
    }
}
