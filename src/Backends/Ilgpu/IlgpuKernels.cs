using ILGPU;
using ILGPU.Algorithms;

namespace BitDistill.Backends.Ilgpu;

/// <summary>The device kernels of <see cref="IlgpuBackend"/>: plain C# compiled by ILGPU to PTX (CUDA), OpenCL C or the
/// CPU emulator. Element types travel as <see cref="Tensors.DType"/> codes; float math is float32 like the CPU backend.
/// The row kernels here give one thread a row (the CPU emulator's form); IlgpuKernels.RowGroups holds the GPUs' forms.</summary>
internal static partial class IlgpuKernels
{
    // DType codes (the enum's values): Float32, Float16, BFloat16, Int8, UInt8, Int32, Int64, Bool.
    private const int F32 = 0, BF16 = 2, I8 = 3, U8 = 4, I32 = 5, I64 = 6, Bool = 7;

    /// <summary>The SGEMM tile edge: a group of Tile × Tile threads computes one output tile.</summary>
    public const int Tile = 16;

    private static double Read(ArrayView<byte> raw, int type, int i) => type switch
    {
        F32 => raw.Cast<float>()[i],
        BF16 => Interop.IntAsFloat((uint)raw.Cast<ushort>()[i] << 16),
        I8 => raw.Cast<sbyte>()[i],
        U8 or Bool => raw[i],
        I32 => raw.Cast<int>()[i],
        _ => raw.Cast<long>()[i],
    };

    private static void Write(ArrayView<byte> raw, int type, int i, double v)
    {
        switch (type)
        {
            case F32: raw.Cast<float>()[i] = (float)v; break;
            case BF16: raw.Cast<ushort>()[i] = ToBFloat16((float)v); break;
            case I8: raw.Cast<sbyte>()[i] = (sbyte)(int)v; break;
            case U8: raw[i] = (byte)(int)v; break;
            case Bool: raw[i] = v != 0 ? (byte)1 : (byte)0; break;
            case I32: raw.Cast<int>()[i] = (int)v; break;
            default: raw.Cast<long>()[i] = (long)v; break;
        }
    }

    private static ushort ToBFloat16(float f)
    {
        uint bits = Interop.FloatAsInt(f);
        if (float.IsNaN(f)) return (ushort)((bits >> 16) | 0x40);
        return (ushort)((bits + 0x7FFFu + ((bits >> 16) & 1)) >> 16);
    }

    /// <summary>dst[ld(i)] = convert(src[ls(i)]); same-dtype copies move the bits (by element size).</summary>
    public static void Copy(Index1D i, ArrayView<byte> src, int st, StridedLayout ls, ArrayView<byte> dst, int dt, StridedLayout ld, int size)
    {
        int s = ls.At(i), d = ld.At(i);
        if (st == dt)
        {
            if (size == 4) dst.Cast<int>()[d] = src.Cast<int>()[s];
            else if (size == 8) dst.Cast<long>()[d] = src.Cast<long>()[s];
            else if (size == 2) dst.Cast<short>()[d] = src.Cast<short>()[s];
            else dst[d] = src[s];
        }
        else Write(dst, dt, d, Read(src, st, s));
    }

    public static void Fill(Index1D i, ArrayView<byte> dst, int dt, StridedLayout ld, double value) => Write(dst, dt, ld.At(i), value);

    private static float Erf(float xf)
    {
        double x = xf;
        if (double.IsNaN(x)) return xf;
        double ax = Math.Abs(x);
        if (ax < 4)
        {
            double term = ax, sum = ax, x2 = ax * ax;
            for (int n = 1; n < 200; n++)
            {
                term *= -x2 / n;
                double add = term / (2 * n + 1);
                sum += add;
                if (Math.Abs(add) < 1e-17 * Math.Abs(sum)) break;
            }
            double r = sum * 1.1283791670955126;
            return (float)(x < 0 ? -r : r);
        }
        double f = ax;
        for (int k = 60; k >= 1; k--) f = ax + k / 2.0 / f;
        double erfc = Math.Exp(-ax * ax) / (f * 1.7724538509055159);
        return (float)(x < 0 ? erfc - 1 : 1 - erfc);
    }

    // UnaryOp: Neg, Abs, Exp, Log, Sqrt, Rsqrt, Tanh, Sigmoid, Silu, GeluTanh, GeluErf, Relu, ReluSquared, Square, Reciprocal, Sign, Erf
    private static float UnaryValue(int op, float v) => op switch
    {
        0 => -v,
        1 => XMath.Abs(v),
        2 => XMath.Exp(v),
        3 => XMath.Log(v),
        4 => XMath.Sqrt(v),
        5 => 1f / XMath.Sqrt(v),
        6 => XMath.Tanh(v),
        7 => 1f / (1f + XMath.Exp(-v)),
        8 => v / (1f + XMath.Exp(-v)),
        9 => 0.5f * v * (1f + XMath.Tanh(0.7978845608f * (v + 0.044715f * v * v * v))),
        10 => (float)(0.5 * v * (1.0 + Erf((float)(v * 0.7071067811865476)))),
        11 => float.IsNaN(v) ? v : (v > 0 ? v : 0f),
        12 => float.IsNaN(v) ? v : (v > 0 ? v * v : 0f),
        13 => v * v,
        14 => 1f / v,
        15 => float.IsNaN(v) ? v : (v > 0 ? 1f : v < 0 ? -1f : 0f),
        _ => Erf(v),
    };

    private static float UnaryDerivative(int op, float v, float y) => op switch
    {
        0 => -1f,
        1 => v > 0 ? 1f : v < 0 ? -1f : 0f,
        2 => y,
        3 => 1f / v,
        4 => 0.5f / y,
        5 => -0.5f * y * y * y,
        6 => 1f - y * y,
        7 => y * (1f - y),
        8 => SiluDerivative(v),
        9 => GeluTanhDerivative(v),
        10 => (float)(0.5 * (1 + Erf((float)(v * 0.7071067811865476))) + v * Math.Exp(-0.5 * v * v) * 0.3989422804014327),
        11 => v > 0 ? 1f : 0f,
        12 => v > 0 ? 2f * v : 0f,
        13 => 2f * v,
        14 => -y * y,
        _ => 0f,
    };

    private static float SiluDerivative(float v)
    {
        float s = 1f / (1f + XMath.Exp(-v));
        return s * (1f + v * (1f - s));
    }

    private static float GeluTanhDerivative(float v)
    {
        const float k = 0.7978845608f, c = 0.044715f;
        float t = XMath.Tanh(k * (v + c * v * v * v));
        return 0.5f * (1f + t) + 0.5f * v * (1f - t * t) * k * (1f + 3f * c * v * v);
    }

    // BinaryOp: Add, Sub, Mul, Div, Pow, Maximum, Minimum
    private static float BinaryValue(int op, float a, float b) => op switch
    {
        0 => a + b,
        1 => a - b,
        2 => a * b,
        3 => a / b,
        4 => XMath.Pow(a, b),
        5 => float.IsNaN(a) || float.IsNaN(b) ? float.NaN : (a > b ? a : b),
        _ => float.IsNaN(a) || float.IsNaN(b) ? float.NaN : (a < b ? a : b),
    };

    // CompareOp: Eq, Ne, Lt, Le, Gt, Ge
    private static bool CompareValue(int op, float a, float b) => op switch
    {
        0 => a == b,
        1 => a != b,
        2 => a < b,
        3 => a <= b,
        4 => a > b,
        _ => a >= b,
    };

    public static void Unary(Index1D i, ArrayView<float> x, StridedLayout lx, ArrayView<float> y, int op) => y[i] = UnaryValue(op, x[lx.At(i)]);

    public static void UnaryBackward(Index1D i, ArrayView<float> x, ArrayView<float> y, ArrayView<float> g, ArrayView<float> o, int op) =>
        o[i] = g[i] * UnaryDerivative(op, x[i], y[i]);

    public static void Binary(Index1D i, ArrayView<float> a, StridedLayout la, ArrayView<float> b, StridedLayout lb, ArrayView<float> y, int op) =>
        y[i] = BinaryValue(op, a[la.At(i)], b[lb.At(i)]);

    public static void BinaryScalar(Index1D i, ArrayView<float> x, StridedLayout lx, ArrayView<float> y, float s, int op, int scalarFirst)
    {
        float v = x[lx.At(i)];
        y[i] = scalarFirst != 0 ? BinaryValue(op, s, v) : BinaryValue(op, v, s);
    }

    public static void Compare(Index1D i, ArrayView<float> a, StridedLayout la, ArrayView<float> b, StridedLayout lb, ArrayView<byte> y, int op) =>
        y[i] = CompareValue(op, a[la.At(i)], b[lb.At(i)]) ? (byte)1 : (byte)0;

    public static void Where(Index1D i, ArrayView<byte> c, StridedLayout lc, ArrayView<float> a, StridedLayout la, ArrayView<float> b, StridedLayout lb, ArrayView<float> y) =>
        y[i] = c[lc.At(i)] != 0 ? a[la.At(i)] : b[lb.At(i)];

    /// <summary>Row r of x [rows, n] reduced: Sum, Mean, Max or Min (NaN propagates through Max and Min).</summary>
    public static void ReduceRows(Index1D r, ArrayView<float> x, ArrayView<float> y, int n, int op)
    {
        int b = r * n;
        if (op <= 1)
        {
            float s = 0;
            for (int j = 0; j < n; j++) s += x[b + j];
            y[r] = op == 1 ? s / n : s;
            return;
        }
        float m = x[b];
        for (int j = 1; j < n; j++)
        {
            float v = x[b + j];
            if (float.IsNaN(m)) break;
            if (float.IsNaN(v) || (op == 2 ? v > m : v < m)) m = v;
        }
        y[r] = m;
    }

    public static void ArgRows(Index1D r, ArrayView<float> x, ArrayView<long> y, int n, int max)
    {
        int b = r * n, best = 0;
        float bv = x[b];
        for (int j = 1; j < n; j++)
        {
            if (float.IsNaN(bv)) break;
            float v = x[b + j];
            if (float.IsNaN(v) || (max != 0 ? v > bv : v < bv)) { best = j; bv = v; }
        }
        y[r] = best;
    }

    private static float RowMax(ArrayView<float> x, int b, int n)
    {
        float m = float.NegativeInfinity;
        for (int j = 0; j < n; j++) { float v = x[b + j]; m = float.IsNaN(v) || float.IsNaN(m) ? float.NaN : (v > m ? v : m); }
        return m;
    }

    public static void SoftmaxRows(Index1D r, ArrayView<float> x, ArrayView<float> y, int n, int log)
    {
        int b = r * n;
        float m = RowMax(x, b, n), s = 0;
        for (int j = 0; j < n; j++) s += XMath.Exp(x[b + j] - m);
        if (log != 0) { float ls = XMath.Log(s); for (int j = 0; j < n; j++) y[b + j] = x[b + j] - m - ls; }
        else { float inv = 1f / s; for (int j = 0; j < n; j++) y[b + j] = XMath.Exp(x[b + j] - m) * inv; }
    }

    public static void LogSumExpRows(Index1D r, ArrayView<float> x, ArrayView<float> y, int n)
    {
        int b = r * n;
        float m = RowMax(x, b, n), s = 0;
        for (int j = 0; j < n; j++) s += XMath.Exp(x[b + j] - m);
        y[r] = m == float.NegativeInfinity ? m : m + XMath.Log(s); // an all −∞ row: log 0 = −∞, as the CPU and PyTorch give
    }

    public static void RmsNormRows(Index1D r, ArrayView<float> x, ArrayView<float> w, ArrayView<float> y, int n, float eps, int hasWeight)
    {
        int b = r * n;
        float ss = 0;
        for (int j = 0; j < n; j++) ss += x[b + j] * x[b + j];
        float rr = 1f / XMath.Sqrt(ss / n + eps);
        for (int j = 0; j < n; j++) y[b + j] = hasWeight != 0 ? x[b + j] * rr * w[j] : x[b + j] * rr;
    }

    /// <summary>dx of RMSNorm for row r, and the row's reciprocal RMS for the weight gradient.</summary>
    public static void RmsNormBackwardRows(Index1D r, ArrayView<float> x, ArrayView<float> w, ArrayView<float> g, ArrayView<float> dx, ArrayView<float> rstd, int n, float eps, int hasWeight)
    {
        int b = r * n;
        float ss = 0;
        for (int j = 0; j < n; j++) ss += x[b + j] * x[b + j];
        float rr = 1f / XMath.Sqrt(ss / n + eps), dot = 0;
        for (int j = 0; j < n; j++) dot += g[b + j] * (hasWeight != 0 ? w[j] : 1f) * x[b + j] * rr;
        for (int j = 0; j < n; j++)
        {
            float gw = g[b + j] * (hasWeight != 0 ? w[j] : 1f);
            dx[b + j] = rr * (gw - x[b + j] * rr * dot / n);
        }
        rstd[r] = rr;
    }

    /// <summary>dw[j] = Σ_rows g·x·rstd (column j).</summary>
    public static void RmsNormWeightGrad(Index1D j, ArrayView<float> x, ArrayView<float> g, ArrayView<float> rstd, ArrayView<float> dw, int rows, int n)
    {
        float s = 0;
        for (int r = 0; r < rows; r++) s += g[r * n + j] * x[r * n + j] * rstd[r];
        dw[j] = s;
    }

    public static void CrossEntropyBackwardRows(Index1D r, ArrayView<float> logits, ArrayView<float> lse, ArrayView<long> targets, ArrayView<float> y, int n, long ignoreIndex, float scale)
    {
        int b = r * n;
        long t = targets[r];
        if (t == ignoreIndex) { for (int j = 0; j < n; j++) y[b + j] = 0; return; }
        float l = lse[r];
        for (int j = 0; j < n; j++) y[b + j] = scale * (XMath.Exp(logits[b + j] - l) - (j == t ? 1f : 0f));
    }

    /// <summary>Each row's cross-entropy lse[r] − logits[r, target] (0 for an ignored row), for a sum on the device.</summary>
    public static void CrossEntropyRowLosses(Index1D r, ArrayView<float> logits, ArrayView<float> lse, ArrayView<long> targets, ArrayView<float> y, int n, long ignoreIndex)
    {
        long t = targets[r];
        y[r] = t == ignoreIndex ? 0f : lse[r] - logits[r * n + (int)t];
    }

    /// <summary>Rotate-half RoPE on contiguous x [rows·T, D] with cos/sin [T, D].</summary>
    public static void Rope(Index1D i, ArrayView<float> x, ArrayView<float> cos, ArrayView<float> sin, ArrayView<float> y, int t, int d, int transpose)
    {
        int h = d / 2, c = i % d, ti = i / d % t;
        int partner = c < h ? c + h : c - h;
        float other = x[i - c + partner];
        y[i] = transpose == 0
            ? x[i] * cos[ti * d + c] + (c < h ? -other : other) * sin[ti * d + c]
            : x[i] * cos[ti * d + c] + (c < h ? other : -other) * sin[ti * d + partner];
    }

    /// <summary>y [outer, nIdx, inner] = x [outer, axisLen, inner] at the indices (elements moved by size).</summary>
    public static void IndexSelect(Index1D i, ArrayView<byte> x, ArrayView<long> idx, ArrayView<byte> y, int axisLen, int nIdx, int inner, int size)
    {
        int c = i % inner, j = i / inner % nIdx, o = i / inner / nIdx;
        int s = (o * axisLen + (int)idx[j]) * inner + c;
        if (size == 4) y.Cast<int>()[i] = x.Cast<int>()[s];
        else if (size == 8) y.Cast<long>()[i] = x.Cast<long>()[s];
        else if (size == 2) y.Cast<short>()[i] = x.Cast<short>()[s];
        else y[i] = x[s];
    }

    /// <summary>One thread per (outer, inner) position adds src [outer, nIdx, inner] into y [outer, axisLen, inner] in index order.</summary>
    public static void IndexAdd(Index1D i, ArrayView<float> src, ArrayView<long> idx, ArrayView<float> y, int axisLen, int nIdx, int inner)
    {
        int c = i % inner, o = i / inner;
        for (int j = 0; j < nIdx; j++) y[(o * axisLen + (int)idx[j]) * inner + c] += src[(o * nIdx + j) * inner + c];
    }

    /// <summary>Tiled shared-memory SGEMM: C[batch] (m × n, contiguous) = A[batch] (m × k) · B[batch] (k × n) with arbitrary
    /// strides of A's and B's last two dims; offsets holds each batch's (A, B, C) element offsets. Grid (⌈n/Tile⌉, ⌈m/Tile⌉,
    /// batch), groups of Tile × Tile threads.</summary>
    public static void Sgemm(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, ArrayView<int> offsets, int m, int n, int k, int sam, int sak, int sbk, int sbn)
    {
        var ta = SharedMemory.Allocate<float>(Tile * Tile);
        var tb = SharedMemory.Allocate<float>(Tile * Tile);
        int tx = Group.IdxX, ty = Group.IdxY;
        int col = Grid.IdxX * Tile + tx, row = Grid.IdxY * Tile + ty, z = Grid.IdxZ;
        int ao = offsets[z * 3], bo = offsets[z * 3 + 1], co = offsets[z * 3 + 2];
        float acc = 0;
        for (int t0 = 0; t0 < k; t0 += Tile)
        {
            int ak = t0 + tx, bk = t0 + ty;
            ta[ty * Tile + tx] = row < m && ak < k ? a[ao + row * sam + ak * sak] : 0f;
            tb[ty * Tile + tx] = bk < k && col < n ? b[bo + bk * sbk + col * sbn] : 0f;
            Group.Barrier();
            for (int p = 0; p < Tile; p++) acc += ta[ty * Tile + p] * tb[p * Tile + tx];
            Group.Barrier();
        }
        if (row < m && col < n) c[co + row * n + col] = acc;
    }

    /// <summary>The SGEMM of <see cref="Sgemm"/> with one thread per element of C and no shared memory: for ILGPU's CPU
    /// emulator, where each of the tiled kernel's group barriers switches hundreds of OS threads (a 64×32·32×2048 product
    /// took 6 s tiled). i runs over batch × m × n.</summary>
    public static void SgemmPerElement(Index1D i, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, ArrayView<int> offsets, int m, int n, int k, int sam, int sak, int sbk, int sbn)
    {
        int mn = m * n, z = i / mn, rc = i - z * mn, row = rc / n, col = rc - row * n;
        int ao = offsets[z * 3] + row * sam, bo = offsets[z * 3 + 1] + col * sbn;
        float acc = 0;
        for (int p = 0; p < k; p++) acc += a[ao + p * sak] * b[bo + p * sbk];
        c[offsets[z * 3 + 2] + rc] = acc;
    }

    /// <summary>torch.optim.AdamW on one element, in the CPU kernel's operation order (constants folded on the host).</summary>
    public static void AdamW(Index1D i, ArrayView<float> p, ArrayView<float> g, ArrayView<float> m, ArrayView<float> v,
        float b1c, float b2, float b2c, float eps, float decay, float stepSize, float inv)
    {
        float gi = g[i], m0 = m[i];
        float mi = m0 + b1c * (gi - m0);
        float vi = b2 * v[i] + b2c * gi * gi;
        m[i] = mi; v[i] = vi;
        p[i] = p[i] * decay - stepSize * mi / (XMath.Sqrt(vi) * inv + eps);
    }

    /// <summary>torch.optim.SGD on one element (buf is a dummy view without momentum).</summary>
    public static void Sgd(Index1D i, ArrayView<float> p, ArrayView<float> g, ArrayView<float> buf, float lr, float momentum, float weightDecay, int nesterov, int first)
    {
        float gi = g[i] + weightDecay * p[i];
        if (momentum != 0)
        {
            float bi = first != 0 ? gi : momentum * buf[i] + gi;
            buf[i] = bi;
            gi = nesterov != 0 ? gi + momentum * bi : bi;
        }
        p[i] = p[i] - lr * gi;
    }

    /// <summary>Partial sums of squares in double over chunks of <paramref name="chunk"/> elements.</summary>
    public static void SumOfSquaresChunks(Index1D c, ArrayView<float> x, ArrayView<double> partial, int n, int chunk)
    {
        double s = 0;
        int end = Math.Min(n, (c + 1) * chunk);
        for (int i = c * chunk; i < end; i++) s += (double)x[i] * x[i];
        partial[c] = s;
    }

    public static void Scale(Index1D i, ArrayView<float> x, float factor) => x[i] = x[i] * factor;

    /// <summary>W2A8 ternary product, one thread per output (m, n): int32 Σ_k codes[m, k]·q[n, k] over the 2-bit packed
    /// weights (PackedTernaryMatrix's layout: 32-byte blocks of 128 weights, weight j + 32·s in bits 2s..2s+1 of byte j),
    /// then acc / xScale[m] · wScale (per tensor: wScales[0]; per row: wScales[n]).</summary>
    public static void TernaryMatMul(Index1D i, ArrayView<sbyte> codes, ArrayView<float> xScales, ArrayView<byte> packed, ArrayView<float> wScales,
        ArrayView<float> y, int rows, int k, int rowBytes, int perRow)
    {
        int m = i / rows, n = i - m * rows;
        int acc = 0, xb = m * k, wb = n * rowBytes;
        for (int c = 0; c < k; c++)
        {
            int block = c >> 7, within = c & 127;
            int code = (packed[wb + block * 32 + (within & 31)] >> (2 * (within >> 5))) & 3;
            acc += codes[xb + c] * (code - 1);
        }
        y[i] = acc / xScales[m] * (perRow != 0 ? wScales[n] : wScales[0]);
    }
}
