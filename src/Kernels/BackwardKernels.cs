using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace BitDistill.Kernels;

/// <summary>Fused backward kernels over rows and elements (each with a scalar reference).</summary>
public static class BackwardKernels
{
    /// <summary>log Σ exp(x) of one row (max-shifted).</summary>
    public static float LogSumExp(ReadOnlySpan<float> x)
    {
        var level = KernelContext.Current.Simd;
        if (level < SimdLevel.Vector128)
        {
            float m = float.NegativeInfinity;
            foreach (var v in x) m = float.IsNaN(v) || float.IsNaN(m) ? float.NaN : MathF.Max(m, v);
            if (float.IsNegativeInfinity(m)) return m; // log Σ e^−∞ = log 0, as the vector path and PyTorch give (not −∞ + ∞)
            double s = 0;
            foreach (var v in x) s += MathF.Exp(v - m);
            return m + (float)Math.Log(s);
        }
        float max = TensorPrimitives.Max(x);
        if (float.IsNegativeInfinity(max)) return max;
        Span<float> buf = stackalloc float[Math.Min(x.Length, 2048)];
        float sum = 0;
        for (int i = 0; i < x.Length; i += buf.Length)
        {
            var chunk = x.Slice(i, Math.Min(buf.Length, x.Length - i));
            var b = buf[..chunk.Length];
            TensorPrimitives.Subtract(chunk, max, b);
            TensorPrimitives.Exp(b, b);
            sum += TensorPrimitives.Sum(b);
        }
        return max + MathF.Log(sum);
    }

    /// <summary>Gradient of mean cross-entropy for one row: g = scale·(softmax(x) − onehot(target)), softmax = exp(x − lse).</summary>
    public static void SoftmaxCrossEntropyGrad(ReadOnlySpan<float> x, float lse, int target, float scale, Span<float> g)
    {
        var level = KernelContext.Current.Simd;
        if (level < SimdLevel.Vector128)
        {
            for (int i = 0; i < x.Length; i++) g[i] = scale * MathF.Exp(x[i] - lse);
        }
        else
        {
            TensorPrimitives.Subtract(x, lse, g);
            TensorPrimitives.Exp(g, g);
            TensorPrimitives.Multiply(g, scale, g);
        }
        g[target] -= scale;
    }

    /// <summary>Cross-entropy of one row, forward and gradient in one pass of exp: g = scale·(softmax(x) − onehot(target)),
    /// computed as scale·exp(x − max)/Σ; returns the row's log-sum-exp.</summary>
    public static float LogSumExpAndCrossEntropyGrad(ReadOnlySpan<float> x, int target, float scale, Span<float> g)
    {
        var level = KernelContext.Current.Simd;
        if (level < SimdLevel.Vector128)
        {
            float m = float.NegativeInfinity;
            foreach (var v in x) m = float.IsNaN(v) || float.IsNaN(m) ? float.NaN : MathF.Max(m, v);
            if (float.IsNegativeInfinity(m)) { SoftmaxCrossEntropyGrad(x, m, target, scale, g); return m; }
            double s = 0;
            for (int i = 0; i < x.Length; i++) { g[i] = MathF.Exp(x[i] - m); s += g[i]; }
            float f = (float)(scale / s);
            for (int i = 0; i < x.Length; i++) g[i] *= f;
            g[target] -= scale;
            return m + (float)Math.Log(s);
        }
        float max = TensorPrimitives.Max(x);
        if (float.IsNegativeInfinity(max)) { SoftmaxCrossEntropyGrad(x, max, target, scale, g); return max; }
        float sum = SoftmaxRows.ExpShiftSum(x, max, g);
        TensorPrimitives.Multiply(g, scale / sum, g);
        g[target] -= scale;
        return max + MathF.Log(sum);
    }

    /// <summary>SwiGLU forward: y = silu(gate)·up = gate·σ(gate)·up.</summary>
    public static void SwiGlu(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> y)
    {
        var level = KernelContext.Current.Simd;
        if (gate.Length != up.Length || y.Length != gate.Length) throw new ArgumentException("SwiGLU: length mismatch");
        if (level < SimdLevel.Vector128) { SwiGluReference(gate, up, y); return; }
        if (level >= SimdLevel.Vector512) { SwiGlu512(gate, up, y); return; }
        for (int i = 0; i < y.Length; i += 2048) // chunks that stay in L1 between the passes
        {
            int n = Math.Min(2048, y.Length - i);
            var ys = y.Slice(i, n); var a = gate.Slice(i, n);
            TensorPrimitives.Sigmoid(a, ys);
            TensorPrimitives.Multiply(ys, a, ys);
            TensorPrimitives.Multiply(ys, up.Slice(i, n), ys);
        }
    }

    // One pass in 512-bit registers, σ(a) = 1/(1 + exp(−a)) (the vector-library path makes three passes per chunk).
    private static void SwiGlu512(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> y)
    {
        int n = y.Length, i = 0, W = Vector512<float>.Count;
        ref float ra = ref MemoryMarshal.GetReference(gate);
        ref float ru = ref MemoryMarshal.GetReference(up);
        ref float ry = ref MemoryMarshal.GetReference(y);
        var one = Vector512<float>.One;
        for (; i <= n - W; i += W)
        {
            var a = Vector512.LoadUnsafe(ref ra, (nuint)i);
            var sig = one / (one + FastExp.Exp(-a));
            (a * sig * Vector512.LoadUnsafe(ref ru, (nuint)i)).StoreUnsafe(ref ry, (nuint)i);
        }
        for (; i < n; i++) { float a = gate[i]; y[i] = a / (1f + MathF.Exp(-a)) * up[i]; }
    }

    // One pass in 512-bit registers (the vector-library path makes eight passes per chunk).
    private static void SwiGluBackward512(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, ReadOnlySpan<float> g, Span<float> dgate, Span<float> dup)
    {
        int n = gate.Length, i = 0, W = Vector512<float>.Count;
        ref float ra = ref MemoryMarshal.GetReference(gate);
        ref float ru = ref MemoryMarshal.GetReference(up);
        ref float rg = ref MemoryMarshal.GetReference(g);
        ref float rda = ref MemoryMarshal.GetReference(dgate);
        ref float rdu = ref MemoryMarshal.GetReference(dup);
        var one = Vector512<float>.One;
        for (; i <= n - W; i += W)
        {
            var a = Vector512.LoadUnsafe(ref ra, (nuint)i);
            var sig = one / (one + FastExp.Exp(-a));
            var gs = Vector512.LoadUnsafe(ref rg, (nuint)i) * sig;
            (gs * (one + a * (one - sig)) * Vector512.LoadUnsafe(ref ru, (nuint)i)).StoreUnsafe(ref rda, (nuint)i);
            (gs * a).StoreUnsafe(ref rdu, (nuint)i);
        }
        for (; i < n; i++)
        {
            float a = gate[i], sg = 1f / (1f + MathF.Exp(-a)), gs = g[i] * sg;
            dgate[i] = gs * (1f + a * (1f - sg)) * up[i];
            dup[i] = gs * a;
        }
    }

    /// <summary>The scalar definition of <see cref="SwiGlu"/>.</summary>
    public static void SwiGluReference(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> y)
    {
        for (int i = 0; i < y.Length; i++) { float a = gate[i]; y[i] = a / (1f + MathF.Exp(-a)) * up[i]; }
    }

    /// <summary>SwiGLU backward, one pass: with s = σ(gate), dgate = g·up·s·(1 + gate·(1 − s)) and dup = g·gate·s.</summary>
    public static void SwiGluBackward(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, ReadOnlySpan<float> g, Span<float> dgate, Span<float> dup)
    {
        var level = KernelContext.Current.Simd;
        if (gate.Length != up.Length || g.Length != gate.Length || dgate.Length != gate.Length || dup.Length != gate.Length)
            throw new ArgumentException("SwiGLU backward: length mismatch");
        if (level < SimdLevel.Vector128) { SwiGluBackwardReference(gate, up, g, dgate, dup); return; }
        if (level >= SimdLevel.Vector512) { SwiGluBackward512(gate, up, g, dgate, dup); return; }
        Span<float> t = stackalloc float[Math.Min(gate.Length, 1024)];
        for (int i = 0; i < gate.Length; i += t.Length)
        {
            int n = Math.Min(t.Length, gate.Length - i);
            var a = gate.Slice(i, n); var u = up.Slice(i, n); var gs = g.Slice(i, n); var da = dgate.Slice(i, n); var du = dup.Slice(i, n); var s = t[..n];
            TensorPrimitives.Sigmoid(a, s);
            TensorPrimitives.Multiply(gs, s, du);      // g·s
            TensorPrimitives.Subtract(1f, s, da);      // 1 − s
            TensorPrimitives.Multiply(da, a, da);      // gate·(1 − s)
            TensorPrimitives.Add(da, 1f, da);
            TensorPrimitives.Multiply(da, du, da);     // g·s·(1 + gate·(1 − s))
            TensorPrimitives.Multiply(da, u, da);
            TensorPrimitives.Multiply(du, a, du);      // g·s·gate
        }
    }

    /// <summary>The scalar definition of <see cref="SwiGluBackward"/>.</summary>
    public static void SwiGluBackwardReference(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, ReadOnlySpan<float> g, Span<float> dgate, Span<float> dup)
    {
        for (int i = 0; i < gate.Length; i++)
        {
            float a = gate[i], s = 1f / (1f + MathF.Exp(-a)), gs = g[i] * s;
            dgate[i] = gs * (1f + a * (1f - s)) * up[i];
            dup[i] = gs * a;
        }
    }

    /// <summary>dx = g·f′(x) for a unary op, fused (no temporaries beyond a stack chunk). y is the forward output when the
    /// derivative is cheaper from it (exp, tanh, sigmoid, sqrt, rsqrt), else ignored.</summary>
    public static void Unary(UnaryOp op, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> g, Span<float> dx)
    {
        var level = KernelContext.Current.Simd;
        if (level < SimdLevel.Vector128 || op is not (UnaryOp.Silu or UnaryOp.Sigmoid or UnaryOp.Tanh or UnaryOp.Exp or UnaryOp.Relu or UnaryOp.ReluSquared or UnaryOp.Square))
        {
            UnaryReference(op, x, y, g, dx);
            return;
        }
        Span<float> t = stackalloc float[Math.Min(x.Length, 1024)];
        for (int i = 0; i < x.Length; i += t.Length)
        {
            int n = Math.Min(t.Length, x.Length - i);
            var xs = x.Slice(i, n); var gs = g.Slice(i, n); var ds = dx.Slice(i, n); var ts = t[..n];
            switch (op)
            {
                case UnaryOp.Silu: // s·(1 + x(1 − s))
                    TensorPrimitives.Sigmoid(xs, ts);
                    TensorPrimitives.Subtract(1f, ts, ds);       // 1 − s
                    TensorPrimitives.Multiply(ds, xs, ds);       // x(1 − s)
                    TensorPrimitives.Add(ds, 1f, ds);
                    TensorPrimitives.Multiply(ds, ts, ds);
                    TensorPrimitives.Multiply(ds, gs, ds);
                    break;
                case UnaryOp.Sigmoid: // y(1 − y)
                {
                    var ys = y.Slice(i, n);
                    TensorPrimitives.Subtract(1f, ys, ts);
                    TensorPrimitives.Multiply(ts, ys, ts);
                    TensorPrimitives.Multiply(ts, gs, ds);
                    break;
                }
                case UnaryOp.Tanh: // 1 − y²
                {
                    var ys = y.Slice(i, n);
                    TensorPrimitives.Multiply(ys, ys, ts);
                    TensorPrimitives.Subtract(1f, ts, ts);
                    TensorPrimitives.Multiply(ts, gs, ds);
                    break;
                }
                case UnaryOp.Exp: TensorPrimitives.Multiply(y.Slice(i, n), gs, ds); break;
                case UnaryOp.Relu: // g where x > 0
                    for (int j = 0; j < n; j++) ds[j] = xs[j] > 0 ? gs[j] : 0f;
                    break;
                case UnaryOp.ReluSquared: // 2·relu(x)·g
                    TensorPrimitives.Max(xs, 0f, ts);
                    TensorPrimitives.Multiply(ts, gs, ds);
                    TensorPrimitives.Multiply(ds, 2f, ds);
                    break;
                case UnaryOp.Square:
                    TensorPrimitives.Multiply(xs, gs, ds);
                    TensorPrimitives.Multiply(ds, 2f, ds);
                    break;
            }
        }
    }

    /// <summary>Scalar definitions of the unary derivatives.</summary>
    public static void UnaryReference(UnaryOp op, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> g, Span<float> dx)
    {
        for (int i = 0; i < x.Length; i++)
        {
            float v = x[i];
            float d = op switch
            {
                UnaryOp.Neg => -1f,
                UnaryOp.Abs => float.IsNaN(v) ? v : MathF.Sign(v),
                UnaryOp.Exp => y[i],
                UnaryOp.Log => 1f / v,
                UnaryOp.Sqrt => 0.5f / y[i],
                UnaryOp.Rsqrt => -0.5f * y[i] * y[i] * y[i],
                UnaryOp.Tanh => 1f - y[i] * y[i],
                UnaryOp.Sigmoid => y[i] * (1f - y[i]),
                UnaryOp.Silu => Silu(v),
                UnaryOp.GeluTanh => GeluTanh(v),
                UnaryOp.GeluErf => (float)(0.5 * (1 + DeterministicMath.Erf(v * 0.7071067811865476)) + v * Math.Exp(-0.5 * v * v) * 0.3989422804014327),
                UnaryOp.Relu => v > 0 ? 1f : 0f,
                UnaryOp.ReluSquared => v > 0 ? 2f * v : 0f,
                UnaryOp.Square => 2f * v,
                _ => throw new NotSupportedException($"no derivative for {op}"),
            };
            dx[i] = g[i] * d;
        }

        static float Silu(float v) { float s = 1f / (1f + MathF.Exp(-v)); return s * (1f + v * (1f - s)); }
        static float GeluTanh(float v)
        {
            const float k = 0.7978845608f, c = 0.044715f;
            float t = MathF.Tanh(k * (v + c * v * v * v));
            return 0.5f * (1f + t) + 0.5f * v * (1f - t * t) * k * (1f + 3f * c * v * v);
        }
    }

    /// <summary>RMSNorm backward for one row: dx = r·(g·w − x̂·mean(g·w·x̂)) with x̂ = x·r; accumulates Σ g·x̂ into dw
    /// when dw is not empty.</summary>
    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> w, float eps, ReadOnlySpan<float> g, Span<float> dx, Span<float> dw)
    {
        var level = KernelContext.Current.Simd;
        int d = x.Length;
        if (level < SimdLevel.Vector128)
        {
            double ss = 0; foreach (var v in x) ss += (double)v * v;
            float r = (float)(1.0 / Math.Sqrt(ss / d + eps));
            double dot = 0;
            for (int i = 0; i < d; i++) dot += (double)g[i] * (w.IsEmpty ? 1f : w[i]) * x[i] * r;
            float mean = (float)(dot / d);
            for (int i = 0; i < d; i++)
            {
                float xh = x[i] * r, gw = g[i] * (w.IsEmpty ? 1f : w[i]);
                dx[i] = r * (gw - xh * mean);
                if (!dw.IsEmpty) dw[i] += g[i] * xh;
            }
            return;
        }
        if (level >= SimdLevel.Vector512 && d >= Vector512<float>.Count) { RmsNorm512(x, w, eps, g, dx, dw); return; }
        float rr = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares(x) / d + eps);
        // dx ← g·w (temporarily), mean = Σ (g·w)·x·r / d
        if (w.IsEmpty) g.CopyTo(dx); else TensorPrimitives.Multiply(g, w, dx);
        float m = TensorPrimitives.Dot(dx, x) * rr / d;
        // dx = r·gw − r²·m·x
        TensorPrimitives.Multiply(dx, rr, dx);
        TensorPrimitives.MultiplyAdd(x, -rr * rr * m, dx, dx);
        if (!dw.IsEmpty)
        {
            Span<float> t = stackalloc float[Math.Min(d, 4096)];
            for (int i = 0; i < d; i += t.Length)
            {
                int n = Math.Min(t.Length, d - i);
                TensorPrimitives.Multiply(g.Slice(i, n), x.Slice(i, n), t[..n]);
                TensorPrimitives.MultiplyAdd(t[..n], rr, dw.Slice(i, n), dw.Slice(i, n));
            }
        }
    }

    // Two passes over the row (Σx² with Σ(g·w)·x, then dx and dw) in 512-bit registers; short rows (head-dim norms of
    // q and k, d = 64) are otherwise dominated by the per-call cost of six vector-library calls.
    private static void RmsNorm512(ReadOnlySpan<float> x, ReadOnlySpan<float> w, float eps, ReadOnlySpan<float> g, Span<float> dx, Span<float> dw)
    {
        int d = x.Length, j = 0, W = Vector512<float>.Count;
        bool hasW = !w.IsEmpty, hasDw = !dw.IsEmpty;
        ref float rx = ref MemoryMarshal.GetReference(x);
        ref float rg = ref MemoryMarshal.GetReference(g);
        ref float rw = ref MemoryMarshal.GetReference(w);
        ref float rdx = ref MemoryMarshal.GetReference(dx);
        ref float rdw = ref MemoryMarshal.GetReference(dw);
        var ssv = Vector512<float>.Zero; var dotv = Vector512<float>.Zero;
        for (; j <= d - W; j += W)
        {
            var xv = Vector512.LoadUnsafe(ref rx, (nuint)j);
            var gw = Vector512.LoadUnsafe(ref rg, (nuint)j);
            if (hasW) gw *= Vector512.LoadUnsafe(ref rw, (nuint)j);
            ssv = Vector512.FusedMultiplyAdd(xv, xv, ssv);
            dotv = Vector512.FusedMultiplyAdd(gw, xv, dotv);
        }
        float ss = Vector512.Sum(ssv), dot = Vector512.Sum(dotv);
        for (int i = j; i < d; i++) { ss += x[i] * x[i]; dot += g[i] * (hasW ? w[i] : 1f) * x[i]; }
        float r = 1f / MathF.Sqrt(ss / d + eps);
        float c = -r * r * r * dot / d; // dx = r·g·w − r³·(Σ g·w·x / d)·x
        var rv = Vector512.Create(r); var cv = Vector512.Create(c);
        for (j = 0; j <= d - W; j += W)
        {
            var xv = Vector512.LoadUnsafe(ref rx, (nuint)j);
            var gv = Vector512.LoadUnsafe(ref rg, (nuint)j);
            var gw = hasW ? gv * Vector512.LoadUnsafe(ref rw, (nuint)j) : gv;
            Vector512.FusedMultiplyAdd(xv, cv, gw * rv).StoreUnsafe(ref rdx, (nuint)j);
            if (hasDw) Vector512.FusedMultiplyAdd(gv * xv, rv, Vector512.LoadUnsafe(ref rdw, (nuint)j)).StoreUnsafe(ref rdw, (nuint)j);
        }
        for (int i = j; i < d; i++)
        {
            float gw = g[i] * (hasW ? w[i] : 1f);
            dx[i] = MathF.FusedMultiplyAdd(x[i], c, gw * r);
            if (hasDw) dw[i] += g[i] * x[i] * r;
        }
    }
}
