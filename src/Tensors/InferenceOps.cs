using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using BitDistill.Kernels;

namespace BitDistill.Tensors;

/// <summary>Destination-taking operations on preallocated contiguous Float32 tensors for inference (the runtime's forward pass):
/// each writes into a buffer the caller owns and works on the first <c>rows</c> rows of it, so a decode step creates no tensor,
/// no view and no array. They dispatch to the SIMD kernels; shapes are checked with messages naming the tensor.</summary>
public static class InferenceOps
{
    /// <summary>Copies the embedding rows of <paramref name="ids"/> from <paramref name="table"/> [V, E] into rows 0.. of
    /// <paramref name="output"/> [≥ ids, E].</summary>
    public static void Embedding(Tensor table, ReadOnlySpan<int> ids, Tensor output)
    {
        var (v, e) = Matrix(table, nameof(table));
        var src = Floats(table, nameof(table));
        var dst = Rows(output, nameof(output), ids.Length, e);
        for (int i = 0; i < ids.Length; i++)
        {
            if ((uint)ids[i] >= (uint)v) throw new ArgumentOutOfRangeException(nameof(ids), ids[i], $"token id {ids[i]} at index {i} is outside the embedding table [0, {v})");
            src.Slice(ids[i] * e, e).CopyTo(dst.Slice(i * e, e));
        }
    }

    /// <summary>output[r] = input[r]·weightᵀ (+ bias) for r &lt; <paramref name="rows"/>; input [≥ rows, K], weight [N, K] of
    /// Float32, Float16 or BFloat16 (kept at 16 bits, converted exactly as it is read), bias [N], output [≥ rows, N]. One row goes through
    /// the GEMV (weights streamed once), more through the SGEMM.</summary>
    public static void Linear(Tensor input, int rows, Tensor weight, Tensor? bias, Tensor output) =>
        Linear(input, 0, rows, weight, bias, output, 0);

    /// <summary>The outliers of an FP16 weight [N, K] (<see cref="Fp16Outliers.Find"/>) for the faster FP16 GEMV of
    /// <see cref="Linear(Tensor, int, int, Tensor, Tensor?, Tensor, int, Fp16Outliers?)"/>; null for other types, or when the
    /// weight holds too many zeros or subnormals for the table to pay. The weight must not change afterwards.</summary>
    public static Fp16Outliers? FindFp16Outliers(Tensor weight)
    {
        if (weight.DType != DType.Float16) return null;
        var (n, k) = Matrix(weight, nameof(weight));
        return Fp16Outliers.Find(Elements<Half>(weight, DType.Float16, nameof(weight)), n, k);
    }

    /// <summary>As <see cref="Linear(Tensor, int, Tensor, Tensor?, Tensor)"/> on input rows [inputRow, inputRow + rows) into output
    /// rows [outputRow, outputRow + rows) (the logits of the last prompt position, or of every position into a larger buffer).
    /// <paramref name="fp16Outliers"/>, found once in an FP16 weight (<see cref="FindFp16Outliers"/>), speeds up its GEMV.</summary>
    public static void Linear(Tensor input, int inputRow, int rows, Tensor weight, Tensor? bias, Tensor output, int outputRow,
        Fp16Outliers? fp16Outliers = null)
    {
        var (n, k) = Matrix(weight, nameof(weight));
        var x = Rows(input, nameof(input), inputRow + rows, k).Slice(inputRow * k, rows * k);
        var y = Rows(output, nameof(output), outputRow + rows, n).Slice(outputRow * n, rows * n);
        if (rows == 0) return;
        if (weight.DType == DType.Float16) SixteenBitLinear<Half>(x, rows, Elements<Half>(weight, DType.Float16, nameof(weight)), n, k, y, fp16Outliers);
        else if (weight.DType == DType.BFloat16) SixteenBitLinear<ushort>(x, rows, Elements<ushort>(weight, DType.BFloat16, nameof(weight)), n, k, y, null);
        else
        {
            var w = Floats(weight, nameof(weight));
            if (rows == 1) Gemv.MultiplyF32(w, n, k, x, y);
            else Sgemm.Multiply(false, true, rows, n, k, 1f, x, k, w, k, 0f, y, n);
        }
        if (bias is null) return;
        if (bias.Count != n) throw new ArgumentException($"bias has {bias.Count} elements; the weight {Tensor.ShapeString(weight.Shape)} has {n} output features", nameof(bias));
        var b = Floats(bias, nameof(bias));
        for (int r = 0; r < rows; r++) TensorPrimitives.Add(y.Slice(r * n, n), b, y.Slice(r * n, n));
    }

    /// <summary>out_j = input·W_jᵀ + b_j on rows 0..<paramref name="rows"/> for two or three float weights that read the same
    /// input (a layer's q/k/v or gate/up), as <see cref="Linear(Tensor, int, int, Tensor, Tensor?, Tensor, int, Fp16Outliers?)"/>
    /// on each. One row of FP16 weights (each with its outliers) or of BF16 weights runs as one shared GEMV
    /// (<see cref="Gemv.MultiplyF16Shared"/>: one dispatch for all of them); anything else as separate products. The third
    /// weight is optional.</summary>
    public static void LinearShared(Tensor input, int rows,
        Tensor w0, Tensor? b0, Tensor out0, Fp16Outliers? outliers0,
        Tensor w1, Tensor? b1, Tensor out1, Fp16Outliers? outliers1,
        Tensor? w2, Tensor? b2, Tensor? out2, Fp16Outliers? outliers2)
    {
        ArgumentNullException.ThrowIfNull(w0);
        ArgumentNullException.ThrowIfNull(w1);
        if (w2 is not null) ArgumentNullException.ThrowIfNull(out2);
        var dtype = w0.DType;
        bool shared = rows == 1 && w1.DType == dtype && (w2 is null || w2.DType == dtype)
            && (dtype == DType.BFloat16 || (dtype == DType.Float16 && outliers0 is not null && outliers1 is not null && (w2 is null || outliers2 is not null)));
        if (!shared)
        {
            Linear(input, 0, rows, w0, b0, out0, 0, outliers0);
            Linear(input, 0, rows, w1, b1, out1, 0, outliers1);
            if (w2 is not null) Linear(input, 0, rows, w2, b2, out2!, 0, outliers2);
            return;
        }
        var (n0, k) = Matrix(w0, nameof(w0));
        var (n1, k1) = Matrix(w1, nameof(w1));
        var (n2, k2) = w2 is null ? (0, k) : Matrix(w2, nameof(w2));
        if (k1 != k || k2 != k) throw new ArgumentException($"shared weights must have the same input width: {Tensor.ShapeString(w0.Shape)}, {Tensor.ShapeString(w1.Shape)}" + (w2 is null ? "" : $", {Tensor.ShapeString(w2.Shape)}"), nameof(w1));
        var x = Rows(input, nameof(input), 1, k).Slice(0, k);
        var y0 = Rows(out0, nameof(out0), 1, n0).Slice(0, n0);
        var y1 = Rows(out1, nameof(out1), 1, n1).Slice(0, n1);
        var y2 = w2 is null ? default : Rows(out2!, nameof(out2), 1, n2).Slice(0, n2);
        if (dtype == DType.Float16)
            Gemv.MultiplyF16Shared(x, k, Elements<Half>(w0, dtype, nameof(w0)), outliers0!, y0, Elements<Half>(w1, dtype, nameof(w1)), outliers1!, y1,
                w2 is null ? default : Elements<Half>(w2, dtype, nameof(w2)), outliers2, y2);
        else
            Gemv.MultiplyBF16Shared(x, k, Elements<ushort>(w0, dtype, nameof(w0)), y0, Elements<ushort>(w1, dtype, nameof(w1)), y1,
                w2 is null ? default : Elements<ushort>(w2, dtype, nameof(w2)), y2);
        AddBias(b0, y0, n0, nameof(b0)); AddBias(b1, y1, n1, nameof(b1)); if (w2 is not null) AddBias(b2, y2, n2, nameof(b2));
    }

    private static void AddBias(Tensor? bias, Span<float> y, int n, string name)
    {
        if (bias is null) return;
        if (bias.Count != n) throw new ArgumentException($"{name} has {bias.Count} elements; the weight has {n} output features", name);
        TensorPrimitives.Add(y, Floats(bias, name), y);
    }

    // y [rows, N] = x·Wᵀ with W IEEE half or bfloat16 [N, K] (T = Half or ushort): one row is the 16-bit GEMV (weights converted
    // on the fly, read once; FP16 with the outliers found at load where given); more rows convert blocks of 256 weight rows to
    // float and run the SGEMM on each, so a prompt reads the weights once too.
    private static void SixteenBitLinear<T>(ReadOnlySpan<float> x, int rows, ReadOnlySpan<T> w, int n, int k, Span<float> y, Fp16Outliers? outliers)
        where T : unmanaged
    {
        bool half = typeof(T) == typeof(Half);
        if (rows == 1)
        {
            if (!half) Gemv.MultiplyBF16(MemoryMarshal.Cast<T, ushort>(w), n, k, x, y);
            else if (outliers is null) Gemv.MultiplyF16(MemoryMarshal.Cast<T, Half>(w), n, k, x, y);
            else Gemv.MultiplyF16(MemoryMarshal.Cast<T, Half>(w), n, k, x, y, outliers);
            return;
        }
        ConvertedBlocksLinear(x, rows, w, n, k, y);
    }

    // The multi-row path of SixteenBitLinear, apart so that its closure is not allocated on the decode path (C# allocates a
    // closure over parameters at method entry). Each thread converts and multiplies its own blocks with single-threaded
    // SGEMMs: a shared SGEMM per 256-row block made both threads meet at barriers on every block (a quarter of 2-thread
    // prefill time, which then ran no faster than 1 thread).
    private static void ConvertedBlocksLinear<T>(ReadOnlySpan<float> x, int rows, ReadOnlySpan<T> w, int n, int k, Span<float> y) where T : unmanaged
    {
        const int Block = 256;
        unsafe
        {
            fixed (float* px = x) fixed (T* pw = w) fixed (float* py = y)
            {
                nint xa = (nint)px, wa = (nint)pw, ya = (nint)py;
                StaticParallel.For((n + Block - 1) / Block, 2L * Block * k * rows, (b0, b1) =>
                {
                    var block = ArrayPool<float>.Shared.Rent(Math.Min(Block, n) * k);
                    try
                    {
                        for (int r0 = b0 * Block; r0 < Math.Min(n, b1 * Block); r0 += Block)
                        {
                            int b = Math.Min(Block, n - r0);
                            var dst = block.AsSpan(0, b * k);
                            var src = new ReadOnlySpan<T>((T*)wa + (long)r0 * k, b * k);
                            if (typeof(T) == typeof(Half)) NumericConvert.HalfToSingle(MemoryMarshal.Cast<T, Half>(src), dst);
                            else NumericConvert.BFloat16ToSingle(MemoryMarshal.Cast<T, ushort>(src), dst);
                            Sgemm.Multiply(false, true, rows, b, k, 1f, new ReadOnlySpan<float>((float*)xa, rows * k), k, dst, k, 0f,
                                new Span<float>((float*)ya + r0, (rows - 1) * n + b), n);
                        }
                    }
                    finally { ArrayPool<float>.Shared.Return(block); }
                });
            }
        }
    }

    /// <summary>The embedding rows of <paramref name="ids"/> from a stored table [V, E] of Float32, Float16, BFloat16, or Int8 with one
    /// float scale per row (<paramref name="rowScales"/> [V]; value = code · scale), as float32 into rows 0.. of
    /// <paramref name="output"/> [≥ ids, E] (the deployed embeddings, converted row by row, never as a whole).</summary>
    public static void Embedding(Tensor table, Tensor? rowScales, ReadOnlySpan<int> ids, Tensor output)
    {
        if (table.DType == DType.Float32 && rowScales is null) { Embedding(table, ids, output); return; }
        var (v, e) = Matrix(table, nameof(table));
        var dst = Rows(output, nameof(output), ids.Length, e);
        for (int i = 0; i < ids.Length; i++)
            if ((uint)ids[i] >= (uint)v) throw new ArgumentOutOfRangeException(nameof(ids), ids[i], $"token id {ids[i]} at index {i} is outside the embedding table [0, {v})");
        if (table.DType == DType.Float16)
        {
            var src = Elements<Half>(table, DType.Float16, nameof(table));
            for (int i = 0; i < ids.Length; i++) NumericConvert.HalfToSingle(src.Slice(ids[i] * e, e), dst.Slice(i * e, e));
            return;
        }
        if (table.DType == DType.BFloat16)
        {
            var src = Elements<ushort>(table, DType.BFloat16, nameof(table));
            for (int i = 0; i < ids.Length; i++) NumericConvert.BFloat16ToSingle(src.Slice(ids[i] * e, e), dst.Slice(i * e, e));
            return;
        }
        var q = Elements<sbyte>(table, DType.Int8, nameof(table));
        var s = RowScales(rowScales, v, nameof(rowScales));
        for (int i = 0; i < ids.Length; i++)
        {
            var row = dst.Slice(i * e, e);
            TensorPrimitives.ConvertTruncating<sbyte, float>(q.Slice(ids[i] * e, e), row);
            TensorPrimitives.Multiply(row, s[ids[i]], row);
        }
    }

    /// <summary>output[r] = input[r]·weightᵀ for input rows [inputRow, inputRow + rows) into output rows [outputRow, ..), with a
    /// stored weight [N, K] of Float32, Float16 or BFloat16 (as <see cref="Linear(Tensor, int, int, Tensor, Tensor?, Tensor, int, Fp16Outliers?)"/>), or
    /// Int8 with one float scale per row (<paramref name="rowScales"/> [N]; each row through the INT8 GEMV): the deployed lm_head.</summary>
    public static void StoredLinear(Tensor input, int inputRow, int rows, Tensor weight, Tensor? rowScales, Tensor output, int outputRow,
        Fp16Outliers? fp16Outliers = null)
    {
        if (weight.DType is DType.Float32 or DType.Float16 or DType.BFloat16 && rowScales is null) { Linear(input, inputRow, rows, weight, null, output, outputRow, fp16Outliers); return; }
        var (n, k) = Matrix(weight, nameof(weight));
        var x = Rows(input, nameof(input), inputRow + rows, k).Slice(inputRow * k, rows * k);
        var y = Rows(output, nameof(output), outputRow + rows, n).Slice(outputRow * n, rows * n);
        var q = Elements<sbyte>(weight, DType.Int8, nameof(weight));
        var s = RowScales(rowScales, n, nameof(rowScales));
        for (int r = 0; r < rows; r++) Int8RowGemv.Multiply(q, s, n, k, x.Slice(r * k, k), y.Slice(r * n, n));
    }

    /// <summary>A BitLinear's forward on rows 0..<paramref name="rows"/> of input [≥ rows, K] into output [≥ rows, N]: per-token
    /// absmax INT8 quantisation of the activations (<see cref="ActivationQuantizer"/>) and the exact ternary×INT8 product with
    /// <paramref name="weight"/> (<see cref="TernaryGemm"/>: one row is the GEMV, many a GEMM), then + bias. The caller's scratch
    /// holds the codes (Int8, ≥ rows·K elements), the scales (Float32, ≥ rows) and the code sums (Int32, ≥ rows), so nothing
    /// is allocated per call.</summary>
    public static void TernaryLinear(Tensor input, int rows, PackedTernaryMatrix weight, Tensor? bias, Tensor output,
        Tensor codeScratch, Tensor scaleScratch, Tensor sumScratch)
    {
        ArgumentNullException.ThrowIfNull(weight);
        int n = weight.Rows, k = weight.Cols;
        var x = Rows(input, nameof(input), rows, k);
        var y = Rows(output, nameof(output), rows, n);
        if (!QuantizeRows(x, rows, k, codeScratch, scaleScratch, sumScratch, out var codes, out var scales)) return;
        TernaryGemm.Multiply(codes, scales, rows, weight, y);
        AddBias(bias, y, rows, weight);
    }

    /// <summary><see cref="TernaryLinear"/> of one input through two or three ternary weights of the same width (a layer's q, k
    /// and v, or gate and up): the input is quantised once and the products run as one thread dispatch
    /// (<see cref="TernaryGemm.MultiplyShared"/>); each output equals <see cref="TernaryLinear"/>'s bit for bit. Pass nulls for
    /// an unused third weight.</summary>
    public static void TernaryLinearShared(Tensor input, int rows, PackedTernaryMatrix w0, Tensor? b0, Tensor out0, PackedTernaryMatrix w1, Tensor? b1, Tensor out1,
        PackedTernaryMatrix? w2, Tensor? b2, Tensor? out2, Tensor codeScratch, Tensor scaleScratch, Tensor sumScratch)
    {
        ArgumentNullException.ThrowIfNull(w0);
        ArgumentNullException.ThrowIfNull(w1);
        if (w2 != null) ArgumentNullException.ThrowIfNull(out2);
        int k = w0.Cols;
        var x = Rows(input, nameof(input), rows, k);
        var y0 = Rows(out0, nameof(out0), rows, w0.Rows);
        var y1 = Rows(out1, nameof(out1), rows, w1.Rows);
        var y2 = w2 != null ? Rows(out2!, nameof(out2), rows, w2.Rows) : default;
        if (!QuantizeRows(x, rows, k, codeScratch, scaleScratch, sumScratch, out var codes, out var scales)) return;
        TernaryGemm.MultiplyShared(codes, scales, rows, w0, y0, w1, y1, w2, y2);
        AddBias(b0, y0, rows, w0);
        AddBias(b1, y1, rows, w1);
        if (w2 != null) AddBias(b2, y2, rows, w2);
    }

    // Per-token INT8 codes and scales of rows 0..rows of x [rows, k] in the caller's scratch (checked to be large enough);
    // false when there are no rows.
    private static bool QuantizeRows(ReadOnlySpan<float> x, int rows, int k, Tensor codeScratch, Tensor scaleScratch, Tensor sumScratch,
        out Span<sbyte> codes, out Span<float> scales)
    {
        var c = Elements<sbyte>(codeScratch, DType.Int8, nameof(codeScratch));
        var s = Floats(scaleScratch, nameof(scaleScratch));
        var sums = Elements<int>(sumScratch, DType.Int32, nameof(sumScratch));
        if ((long)rows * k > c.Length || rows > s.Length || rows > sums.Length)
            throw new ArgumentException($"ternary scratch holds {c.Length} codes and {s.Length} scales; {rows} rows of {k} need more", nameof(codeScratch));
        codes = c[..(rows * k)];
        scales = s[..rows];
        if (rows == 0) return false;
        ActivationQuantizer.QuantizePerToken(x, rows, k, codes, scales, sums[..rows]);
        return true;
    }

    private static void AddBias(Tensor? bias, Span<float> y, int rows, PackedTernaryMatrix w)
    {
        if (bias is null) return;
        int n = w.Rows;
        if (bias.Count != n) throw new ArgumentException($"bias has {bias.Count} elements; the ternary weight [{n}, {w.Cols}] has {n} output features", nameof(bias));
        var b = Floats(bias, nameof(bias));
        for (int r = 0; r < rows; r++) TensorPrimitives.Add(y.Slice(r * n, n), b, y.Slice(r * n, n));
    }

    /// <summary>RMSNorm of every group of <c>weight.Count</c> features in rows 0..<paramref name="rows"/> of input [≥ rows, W]
    /// (W a multiple of the weight's length: one group per row, or one per head for q_norm/k_norm) into output of the same
    /// shape; output may be input.</summary>
    public static void RmsNorm(Tensor input, int rows, Tensor weight, float eps, Tensor output)
    {
        int d = weight.Count;
        int width = input.Rank == 0 ? 0 : input.Shape[^1];
        if (d == 0 || width % d != 0) throw new ArgumentException($"RMSNorm weight of {d} elements does not divide the rows of {nameof(input)} {Tensor.ShapeString(input.Shape)}", nameof(weight));
        var x = Rows(input, nameof(input), rows, width);
        var y = Rows(output, nameof(output), rows, width);
        var w = Floats(weight, nameof(weight));
        for (int g = 0; g < rows * width; g += d) RowKernels.RmsNorm(x.Slice(g, d), w, eps, y.Slice(g, d));
    }

    /// <summary>Rotate-half RoPE in place on every head of width <c>cos.Shape[1]</c> in rows 0..<paramref name="rows"/> of x
    /// [≥ rows, H·D]; row r is at position <paramref name="position"/> + r of the tables cos, sin [≥ positions, D].</summary>
    public static void Rope(Tensor x, int rows, Tensor cos, Tensor sin, int position)
    {
        var (positions, d) = Matrix(cos, nameof(cos));
        if (!sin.Shape.SequenceEqual(cos.Shape)) throw new ArgumentException($"rope tables differ in shape: cos {Tensor.ShapeString(cos.Shape)}, sin {Tensor.ShapeString(sin.Shape)}", nameof(sin));
        if (position < 0 || position + rows > positions) throw new ArgumentOutOfRangeException(nameof(position), position, $"positions {position}..{position + rows - 1} are beyond the rope tables of {positions} positions");
        int width = x.Rank == 0 ? 0 : x.Shape[^1];
        if (width % d != 0) throw new ArgumentException($"rows of {nameof(x)} {Tensor.ShapeString(x.Shape)} are not whole heads of {d}", nameof(x));
        var v = Rows(x, nameof(x), rows, width);
        var c = Floats(cos, nameof(cos)); var s = Floats(sin, nameof(sin));
        for (int r = 0; r < rows; r++)
        {
            var cr = c.Slice((position + r) * d, d); var sr = s.Slice((position + r) * d, d);
            for (int h = 0; h < width; h += d) RowKernels.Rope(v.Slice(r * width + h, d), cr, sr, v.Slice(r * width + h, d));
        }
    }

    /// <summary>Writes rows 0..<paramref name="rows"/> of keys and values [≥ rows, Hkv·D] into the caches [Hkv, capacity, D] at
    /// positions <paramref name="position"/>.. (a Float16 cache: each rounded to the nearest half).</summary>
    public static void WriteKeyValue(Tensor keys, Tensor values, int rows, Tensor keyCache, Tensor valueCache, int position)
    {
        var (hkv, capacity, d) = Cache(keyCache, nameof(keyCache));
        if (!valueCache.Shape.SequenceEqual(keyCache.Shape)) throw new ArgumentException($"value cache {Tensor.ShapeString(valueCache.Shape)} differs from the key cache {Tensor.ShapeString(keyCache.Shape)}", nameof(valueCache));
        if (position < 0 || position + rows > capacity) throw new InvalidOperationException($"positions {position}..{position + rows - 1} do not fit the KV cache of capacity {capacity}");
        var k = Rows(keys, nameof(keys), rows, hkv * d); var v = Rows(values, nameof(values), rows, hkv * d);
        if (CacheIsHalf(keyCache, valueCache))
        {
            // rounded to the nearest half (as llama.cpp's F16 cache); beyond ±65504 that is ±Inf
            var kh = Elements<Half>(keyCache, DType.Float16, nameof(keyCache)); var vh = Elements<Half>(valueCache, DType.Float16, nameof(valueCache));
            for (int r = 0; r < rows; r++)
                for (int g = 0; g < hkv; g++)
                {
                    int src = r * hkv * d + g * d, dst = (g * capacity + position + r) * d;
                    NumericConvert.SingleToHalf(k.Slice(src, d), kh.Slice(dst, d));
                    NumericConvert.SingleToHalf(v.Slice(src, d), vh.Slice(dst, d));
                }
            return;
        }
        var kc = Floats(keyCache, nameof(keyCache)); var vc = Floats(valueCache, nameof(valueCache));
        for (int r = 0; r < rows; r++)
            for (int g = 0; g < hkv; g++)
            {
                int src = r * hkv * d + g * d, dst = (g * capacity + position + r) * d;
                k.Slice(src, d).CopyTo(kc.Slice(dst, d));
                v.Slice(src, d).CopyTo(vc.Slice(dst, d));
            }
    }

    // A KV cache is Float32 or Float16, both tensors alike.
    private static bool CacheIsHalf(Tensor keyCache, Tensor valueCache)
    {
        if (keyCache.DType != valueCache.DType) throw new ArgumentException($"the key cache is {keyCache.DType} but the value cache {valueCache.DType}", nameof(valueCache));
        if (keyCache.DType is not (DType.Float32 or DType.Float16)) throw new ArgumentException($"a KV cache must be Float32 or Float16, got {keyCache.DType}", nameof(keyCache));
        return keyCache.DType == DType.Float16;
    }

    /// <summary>Causal attention of query rows 0..<paramref name="rows"/> of q [≥ rows, H·D] at positions
    /// <paramref name="position"/>.. over the caches [Hkv, capacity, D] (filled up to position + rows) into output [≥ rows, H·D];
    /// scratch holds <see cref="Kernels.CachedAttention.ScratchPerThread"/> floats per thread (less room: fewer threads).</summary>
    public static void CachedAttention(Tensor q, int rows, Tensor keyCache, Tensor valueCache, int position, Tensor output, Tensor scratch)
    {
        var (_, _, d) = Cache(keyCache, nameof(keyCache));
        CachedAttention(q, rows, keyCache, valueCache, position, output, scratch, 1f / MathF.Sqrt(d), 0, 0f);
    }

    /// <summary>As <see cref="CachedAttention(Tensor, int, Tensor, Tensor, int, Tensor, Tensor)"/> with scores scaled by
    /// <paramref name="scale"/>, each query seeing only the cache slots less than <paramref name="window"/> back from its own (0:
    /// all) and scores soft-capped at <paramref name="softcap"/> (0: none): Gemma's local and global layers.</summary>
    public static void CachedAttention(Tensor q, int rows, Tensor keyCache, Tensor valueCache, int position, Tensor output, Tensor scratch,
        float scale, int window, float softcap)
    {
        var (hkv, capacity, d) = Cache(keyCache, nameof(keyCache));
        if (!valueCache.Shape.SequenceEqual(keyCache.Shape)) throw new ArgumentException($"value cache {Tensor.ShapeString(valueCache.Shape)} differs from the key cache {Tensor.ShapeString(keyCache.Shape)}", nameof(valueCache));
        int width = q.Rank == 0 ? 0 : q.Shape[^1];
        if (width % d != 0) throw new ArgumentException($"rows of {nameof(q)} {Tensor.ShapeString(q.Shape)} are not whole heads of {d}", nameof(q));
        if (CacheIsHalf(keyCache, valueCache))
            Kernels.CachedAttention.Forward(width / d, hkv, d, capacity, position, rows, Rows(q, nameof(q), rows, width),
                Elements<Half>(keyCache, DType.Float16, nameof(keyCache)), Elements<Half>(valueCache, DType.Float16, nameof(valueCache)),
                Rows(output, nameof(output), rows, width), Floats(scratch, nameof(scratch)), scale, window, softcap);
        else
            Kernels.CachedAttention.Forward(width / d, hkv, d, capacity, position, rows,
                Rows(q, nameof(q), rows, width), Floats(keyCache, nameof(keyCache)), Floats(valueCache, nameof(valueCache)),
                Rows(output, nameof(output), rows, width), Floats(scratch, nameof(scratch)), scale, window, softcap);
    }

    /// <summary>Moves cache slots [<paramref name="from"/>, from + <paramref name="count"/>) of both caches [Hkv, capacity, D] to
    /// slots [0, count) of every head (a sliding-window layer dropping the keys no query can see any more).</summary>
    public static void ShiftCache(Tensor keyCache, Tensor valueCache, int from, int count)
    {
        var (hkv, capacity, d) = Cache(keyCache, nameof(keyCache));
        if (!valueCache.Shape.SequenceEqual(keyCache.Shape)) throw new ArgumentException($"value cache {Tensor.ShapeString(valueCache.Shape)} differs from the key cache {Tensor.ShapeString(keyCache.Shape)}", nameof(valueCache));
        if (from < 0 || count < 0 || from + count > capacity) throw new ArgumentOutOfRangeException(nameof(from), from, $"slots {from}..{from + count - 1} are outside the KV cache of capacity {capacity}");
        if (from == 0 || count == 0) return;
        if (CacheIsHalf(keyCache, valueCache))
            Shift(Elements<Half>(keyCache, DType.Float16, nameof(keyCache)), Elements<Half>(valueCache, DType.Float16, nameof(valueCache)), hkv, capacity, d, from, count);
        else Shift(Floats(keyCache, nameof(keyCache)), Floats(valueCache, nameof(valueCache)), hkv, capacity, d, from, count);
    }

    private static void Shift<T>(Span<T> kc, Span<T> vc, int hkv, int capacity, int d, int from, int count)
    {
        for (int g = 0; g < hkv; g++)
        {
            // overlapping ranges: Span.CopyTo moves as memmove does
            kc.Slice((g * capacity + from) * d, count * d).CopyTo(kc.Slice(g * capacity * d, count * d));
            vc.Slice((g * capacity + from) * d, count * d).CopyTo(vc.Slice(g * capacity * d, count * d));
        }
    }

    /// <summary>output = gelu(gate)·up on rows 0..<paramref name="rows"/> of three tensors [≥ rows, I], GELU with the tanh
    /// approximation (<paramref name="tanh"/>) or exact, as Models' gated-GELU MLP computes it; output may be gate or up.</summary>
    public static void GatedGelu(Tensor gate, Tensor up, int rows, Tensor output, bool tanh)
    {
        int width = gate.Rank == 0 ? 0 : gate.Shape[^1];
        var g = Rows(gate, nameof(gate), rows, width); var u = Rows(up, nameof(up), rows, width); var y = Rows(output, nameof(output), rows, width);
        // through a stack block, so the product can be written over the gate or up rows
        Span<float> block = stackalloc float[256];
        var op = tanh ? UnaryOp.GeluTanh : UnaryOp.GeluErf;
        for (int i = 0; i < g.Length; i += block.Length)
        {
            int m = Math.Min(block.Length, g.Length - i);
            Elementwise.Unary(op, g.Slice(i, m), block[..m]);
            Elementwise.Binary(BinaryOp.Mul, block[..m], u.Slice(i, m), y.Slice(i, m));
        }
    }

    /// <summary>x *= <paramref name="factor"/> on rows 0..<paramref name="rows"/> of x [≥ rows, E] (Gemma's embedding scale).</summary>
    public static void Scale(Tensor x, int rows, float factor)
    {
        int width = x.Rank == 0 ? 0 : x.Shape[^1];
        var a = Rows(x, nameof(x), rows, width);
        Elementwise.BinaryRight(BinaryOp.Mul, a, factor, a);
    }

    /// <summary>x = cap·tanh(x / cap) on rows [<paramref name="firstRow"/>, firstRow + <paramref name="rows"/>) of x [R, W] (or
    /// [W] for one row): soft-capped logits.</summary>
    public static void Softcap(Tensor x, int firstRow, int rows, float cap)
    {
        if (!(cap > 0)) throw new ArgumentOutOfRangeException(nameof(cap), cap, "the soft-cap must be positive");
        int width = x.Rank == 0 ? 0 : x.Shape[^1];
        var a = Rows(x, nameof(x), firstRow + rows, width).Slice(firstRow * width, rows * width);
        Elementwise.BinaryRight(BinaryOp.Div, a, cap, a);
        Elementwise.Unary(UnaryOp.Tanh, a, a);
        Elementwise.BinaryRight(BinaryOp.Mul, a, cap, a);
    }

    /// <summary>output = silu(gate)·up on rows 0..<paramref name="rows"/> of three tensors [≥ rows, I]; output may be gate or up.</summary>
    public static void SwiGlu(Tensor gate, Tensor up, int rows, Tensor output)
    {
        int width = gate.Rank == 0 ? 0 : gate.Shape[^1];
        var g = Rows(gate, nameof(gate), rows, width); var u = Rows(up, nameof(up), rows, width); var y = Rows(output, nameof(output), rows, width);
        BackwardKernels.SwiGlu(g, u, y);
    }

    /// <summary>x += y on rows 0..<paramref name="rows"/> of two tensors [≥ rows, E] (the residual stream).</summary>
    public static void AddInPlace(Tensor x, Tensor y, int rows)
    {
        int width = x.Rank == 0 ? 0 : x.Shape[^1];
        var a = Rows(x, nameof(x), rows, width);
        TensorPrimitives.Add(a, Rows(y, nameof(y), rows, width), a);
    }

    /// <summary>Chooses the next token from <paramref name="logits"/> (all its elements: one row) with <paramref name="sampler"/>;
    /// the logits are modified in place (penalties, masking).</summary>
    public static int Sample(TokenSampler sampler, Tensor logits, ReadOnlySpan<int> seen)
    {
        ArgumentNullException.ThrowIfNull(sampler);
        return sampler.Next(Floats(logits, nameof(logits)), seen);
    }

    /// <summary>Copies all elements of <paramref name="source"/> into <paramref name="destination"/> (of the same count).</summary>
    public static void CopyTo(Tensor source, Span<float> destination)
    {
        var s = Floats(source, nameof(source));
        if (destination.Length != s.Length) throw new ArgumentException($"destination holds {destination.Length} floats, {nameof(source)} {Tensor.ShapeString(source.Shape)} has {s.Length}", nameof(destination));
        s.CopyTo(destination);
    }

    // ---- checks: every tensor is contiguous Float32 in managed memory; errors name the parameter and the shapes

    private static Span<float> Floats(Tensor t, string name)
    {
        ArgumentNullException.ThrowIfNull(t, name);
        if (t.DType != DType.Float32) throw new ArgumentException($"{name} must be Float32, got {t.DType}", name);
        if (!t.IsContiguous) throw new ArgumentException($"{name} {Tensor.ShapeString(t.Shape)} must be contiguous", name);
        if (t.Storage is not ManagedStorage m) throw new NotSupportedException($"{name}: inference ops run on CPU memory, not {t.Device}");
        return m.AsSpan<float>().Slice(t.Offset, t.Count);
    }

    private static Span<T> Elements<T>(Tensor t, DType dtype, string name) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(t, name);
        if (t.DType != dtype) throw new ArgumentException($"{name} must be {dtype}, got {t.DType}", name);
        if (!t.IsContiguous) throw new ArgumentException($"{name} {Tensor.ShapeString(t.Shape)} must be contiguous", name);
        if (t.Storage is not ManagedStorage m) throw new NotSupportedException($"{name}: inference ops run on CPU memory, not {t.Device}");
        return m.AsSpan<T>().Slice(t.Offset, t.Count);
    }

    private static Span<float> RowScales(Tensor? scales, int rows, string name)
    {
        if (scales is null) throw new ArgumentException("an Int8 table needs its per-row scales", name);
        var s = Floats(scales, name);
        if (s.Length != rows) throw new ArgumentException($"{name} has {s.Length} scales; the table has {rows} rows", name);
        return s;
    }

    // The first `rows` rows of a [R, width] (or [width] when rows ≤ 1) tensor.
    private static Span<float> Rows(Tensor t, string name, int rows, int width)
    {
        var s = Floats(t, name);
        int w = t.Rank == 0 ? 1 : t.Shape[^1];
        if (w != width) throw new ArgumentException($"{name} {Tensor.ShapeString(t.Shape)} must have rows of {width}", name);
        if (rows < 0 || (long)rows * width > s.Length) throw new ArgumentException($"{name} {Tensor.ShapeString(t.Shape)} has fewer than {rows} rows of {width}", name);
        return s[..(rows * width)];
    }

    private static (int Rows, int Cols) Matrix(Tensor t, string name)
    {
        ArgumentNullException.ThrowIfNull(t, name);
        if (t.Rank != 2) throw new ArgumentException($"{name} must be a matrix, got shape {Tensor.ShapeString(t.Shape)}", name);
        return (t.Shape[0], t.Shape[1]);
    }

    private static (int Heads, int Capacity, int HeadDim) Cache(Tensor t, string name)
    {
        ArgumentNullException.ThrowIfNull(t, name);
        if (t.Rank != 3) throw new ArgumentException($"{name} must be [kv heads, capacity, head dim], got shape {Tensor.ShapeString(t.Shape)}", name);
        return (t.Shape[0], t.Shape[1], t.Shape[2]);
    }
}
