using System.Globalization;
using BitDistill.Kernels;
using BitDistill.Tensors;
using BitDistill.Tensors.SafeTensors;

namespace BitDistill.Runtime;

// The inference-only twin of Models' QwenModel (src/Models/Qwen/QwenModel.cs) and Gemma3Model (src/Models/Gemma3/), as candle's
// quantized_qwen3.rs mirrors qwen3.rs: the same computation with the checkpoint's tensor names, but on preallocated buffers
// through Tensors' InferenceOps, with no autograd graph. Tests hold them equal (tests/BitDistill.Tests/Runtime/RuntimeParityTests.cs,
// Gemma3RuntimeTests.cs); a change to one is a change to both.
//   model.embed_tokens.weight                           [vocab, hidden] (Gemma: rows scaled by √hidden in the forward)
//   model.layers.{i}.input_layernorm.weight             [hidden]
//   model.layers.{i}.self_attn.{q,k,v}_proj.{weight,bias?}   (bias: Qwen2 always, Qwen3 iff attention_bias)
//   model.layers.{i}.self_attn.o_proj.{weight,bias?}    (bias: Qwen3 with attention_bias only)
//   model.layers.{i}.self_attn.{q,k}_norm.weight        [head_dim] (Qwen3, Gemma 3)
//   model.layers.{i}.post_attention_layernorm.weight    [hidden] (Qwen: the MLP's input norm; Gemma: the attention output's norm)
//   model.layers.{i}.pre_feedforward_layernorm.weight   [hidden] (Gemma: the MLP's input norm)
//   model.layers.{i}.mlp.{gate,up,down}_proj.weight
//   model.layers.{i}.post_feedforward_layernorm.weight  [hidden] (Gemma: the MLP output's norm)
//   model.norm.weight                                   [hidden]
//   lm_head.weight                                      [vocab, hidden] (absent when tie_word_embeddings)
// Gemma's norms scale by 1 + weight: the loader adds the 1 once (in float32, as Models' Gemma3RmsNorm does per call).
// An exported (packed ternary) model, written by PackedModelWriter, has the same names with each projection P stored as
// P.weight (U8 packed codes) + P.weight_scale (F32), SubLN weights self_attn.attn_sub_norm / mlp.ffn_sub_norm (paper) or
// P.sub_norm (all), and embeddings / lm_head in F16, F32, or I8 + NAME_scale.

/// <summary>A Qwen3 / Qwen2 / Qwen2.5 or Gemma 3 (text) causal LM for inference: a full-precision checkpoint (weights as float32
/// tensors loaded once) or an exported packed ternary model (2-bit codes in the kernels' layout, embeddings and lm_head in
/// FP16/INT8 as stored), whose forward writes into an <see cref="InferenceSession"/>'s preallocated activations and KV cache.</summary>
public sealed class RuntimeModel
{
    private RuntimeModel(RuntimeModelConfig config, Tensor embed, Tensor? embedScales, Layer[] layers, Tensor norm, Tensor? lmHead, Tensor? lmHeadScales)
    {
        Config = config; EmbedTokens = embed; EmbedScales = embedScales; Layers = layers; Norm = norm; LmHead = lmHead; LmHeadScales = lmHeadScales;
        SubLnEps = (float)(config.Export?.SubLnEps ?? 1e-8);
        OutputFp16Outliers = OutputScales is null ? InferenceOps.FindFp16Outliers(OutputWeight) : null;
    }

    /// <summary>The configuration the model was built from.</summary>
    public RuntimeModelConfig Config { get; }
    /// <summary>True for an exported ternary model.</summary>
    public bool IsTernary => Config.Export is not null;

    /// <summary>Bytes of weights one decode step reads from memory as the runtime holds them: every projection (packed 2-bit codes
    /// and scales, or float32), the lm_head in its stored type (with INT8 row scales) and one embedding row; norms are negligible.
    /// Memory bandwidth divided by this is the decode speed no kernel can beat.</summary>
    public long DecodeBytesPerToken
    {
        get
        {
            long bytes = 0;
            foreach (var layer in Layers)
                foreach (var p in layer.Projections())
                    bytes += p.Ternary is { } t ? t.ByteCount + 4L * t.Scales.Length : (long)p.Weight!.Count * p.Weight.DType.SizeOf();
            bytes += (long)OutputWeight.Count * OutputWeight.DType.SizeOf() + (OutputScales is { } s ? 4L * s.Count : 0);
            return bytes + (long)Config.HiddenSize * EmbedTokens.DType.SizeOf();
        }
    }

    internal Tensor EmbedTokens { get; }
    internal Tensor? EmbedScales { get; }
    internal Layer[] Layers { get; }
    internal Tensor Norm { get; }
    internal Tensor? LmHead { get; }
    internal Tensor? LmHeadScales { get; }
    internal float SubLnEps { get; }
    /// <summary>The matrix that maps final hidden states to logits: lm_head, or the embeddings when tied.</summary>
    internal Tensor OutputWeight => LmHead ?? EmbedTokens;
    /// <summary>Per-row scales of an INT8 <see cref="OutputWeight"/> (null otherwise).</summary>
    internal Tensor? OutputScales => LmHead is null ? EmbedScales : LmHeadScales;
    /// <summary>The outliers of an FP16 <see cref="OutputWeight"/>, found once for its faster GEMV (null otherwise).</summary>
    internal Fp16Outliers? OutputFp16Outliers { get; }

    /// <summary>One decoder layer: <paramref name="AttentionOutputNorm"/> and <paramref name="MlpOutputNorm"/> are Gemma's sandwich
    /// norms (null for Qwen); <paramref name="Window"/> is the sliding window of a local layer (0: global), which also uses the
    /// local RoPE tables.</summary>
    internal sealed record Layer(Tensor InputNorm, RuntimeProjection Wq, RuntimeProjection Wk, RuntimeProjection Wv, RuntimeProjection Wo,
        Tensor? QNorm, Tensor? KNorm, Tensor? AttentionOutputNorm, Tensor MlpNorm, RuntimeProjection Gate, RuntimeProjection Up, RuntimeProjection Down,
        Tensor? MlpOutputNorm, int Window)
    {
        public IEnumerable<RuntimeProjection> Projections() => [Wq, Wk, Wv, Wo, Gate, Up, Down];
    }

    // the names of a layer's norms: Qwen's post_attention_layernorm is the MLP's input norm, Gemma's the attention output's
    private static string MlpNormName(RuntimeModelConfig c) => c.SandwichNorms ? "pre_feedforward_layernorm.weight" : "post_attention_layernorm.weight";
    private static string[] LayerNormNames(RuntimeModelConfig c) => c.SandwichNorms
        ? ["input_layernorm.weight", "post_attention_layernorm.weight", "pre_feedforward_layernorm.weight", "post_feedforward_layernorm.weight"]
        : ["input_layernorm.weight", "post_attention_layernorm.weight"];

    // A layer from its tensors: norm(name) loads a norm weight (adding Gemma's 1), proj(name, bias) a projection.
    private static Layer BuildLayer(RuntimeModelConfig c, int i, Func<string, Tensor> norm, Func<string, bool, RuntimeProjection> proj)
    {
        string p = Prefix(i);
        return new Layer(norm(p + "input_layernorm.weight"),
            proj("self_attn.q_proj", c.QkvBias), proj("self_attn.k_proj", c.QkvBias), proj("self_attn.v_proj", c.QkvBias),
            proj("self_attn.o_proj", c.OutputProjectionBias),
            c.QkNorm ? norm(p + "self_attn.q_norm.weight") : null, c.QkNorm ? norm(p + "self_attn.k_norm.weight") : null,
            c.SandwichNorms ? norm(p + "post_attention_layernorm.weight") : null,
            norm(p + MlpNormName(c)),
            proj("mlp.gate_proj", false), proj("mlp.up_proj", false), proj("mlp.down_proj", false),
            c.SandwichNorms ? norm(p + "post_feedforward_layernorm.weight") : null,
            c.SlidingLayers[i] ? c.SlidingWindow : 0);
    }

    // Gemma's (1 + weight), computed once in float32 as Gemma3RmsNorm computes it per call
    private static Tensor NormWeight(RuntimeModelConfig c, Tensor w)
    {
        if (!c.NormWeightOffset) return w;
        var v = w.ToFloatArray();
        for (int i = 0; i < v.Length; i++) v[i] += 1f;
        return Tensor.FromArray(v, w.ShapeArray, Device.Cpu);
    }

    private static readonly string[] ProjectionNames =
        ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"];

    /// <summary>Loads config.json and the safetensors weights of a model folder: a Hugging Face checkpoint (model.safetensors, or
    /// shards with model.safetensors.index.json; F32/F16/BF16 become float32) or an exported ternary model (config with a
    /// <see cref="PackedExportInfo.Field"/> object). A bad or unsupported config (including a ternary training checkpoint), or a
    /// missing, unexpected, mis-shaped, mis-typed, truncated or tampered tensor, is a <see cref="RuntimeModelException"/> naming
    /// the file and the field or tensor.</summary>
    public static RuntimeModel Load(string folder)
    {
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"model folder '{folder}' does not exist");
        var config = RuntimeModelConfig.Load(Path.Combine(folder, "config.json"));
        if (config.Export is not null) return LoadPacked(folder, config, config.Export);
        using var st = ShardedSafeTensors.OpenFolder(folder);
        var expected = ExpectedShapes(config);
        foreach (var n in st.Names)
        {
            if (expected.ContainsKey(n)) continue;
            if ((n == "lm_head.weight" && config.TieWordEmbeddings) || n.EndsWith("rotary_emb.inv_freq", StringComparison.Ordinal)) continue;
            throw new RuntimeModelException(st.FileOf(n).Path, "tensor", n, $"unexpected tensor: a {config.ModelType} model with {config.Source} has no such weight"
                + (n == "lm_head.weight" ? " (tie_word_embeddings is true)" : ""));
        }
        foreach (var (name, want) in expected)
        {
            if (!st.Contains(name))
                throw new RuntimeModelException(st.Source, "tensor", name, $"missing (expected shape {Tensor.ShapeString(want)} from {config.Source}"
                    + (name == "lm_head.weight" ? "; tie_word_embeddings is false" : "") + ")");
            var entry = st.Entry(name);
            if (entry.DType is not (DType.Float32 or DType.Float16 or DType.BFloat16))
                throw new RuntimeModelException(st.FileOf(name).Path, "tensor", name, $"has dtype {SafeTensorsDTypes.ToName(entry.DType)}; expected F32, F16 or BF16");
            var shape = entry.TensorShape();
            if (!shape.AsSpan().SequenceEqual(want))
                throw new RuntimeModelException(st.FileOf(name).Path, "tensor", name, $"has shape {Tensor.ShapeString(shape)} but {config.Source} implies {Tensor.ShapeString(want)}");
        }

        // long-lived: weights must not come from (or go back to) the pool of a caller's TensorScope
        using var _ = TensorScope.Suspend();
        Tensor W(string name) => st.Load(name, DType.Float32, Device.Cpu).Contiguous();
        // FP16 and BF16 matrices stay at 16 bits (half the bytes a decode step reads; the GEMVs convert exactly as they read),
        // every matrix 64-byte aligned (the GEMVs' vector loads then never straddle two cache lines)
        Tensor Matrix(string name) => st.LoadAligned(name, st.Entry(name).DType is DType.Float16 or DType.BFloat16 ? null : DType.Float32);
        Tensor? Optional(string name, bool present) => present ? W(name) : null;
        var layers = new Layer[config.NumHiddenLayers];
        for (int i = 0; i < layers.Length; i++)
        {
            string p = Prefix(i);
            layers[i] = BuildLayer(config, i, n => NormWeight(config, W(n)), (n, bias) => new(Matrix(p + n + ".weight"), Optional(p + n + ".bias", bias)));
        }
        return new RuntimeModel(config, Matrix("model.embed_tokens.weight"), null, layers, NormWeight(config, W("model.norm.weight")),
            config.TieWordEmbeddings ? null : Matrix("lm_head.weight"), null);
    }

    // An exported model: every tensor's name, dtype, shape and byte count is checked against the config before anything is
    // loaded; then the packed codes are copied once into the kernels' aligned buffers (t1.6 decoded to 2-bit codes), scales
    // checked for finiteness, i2 codes checked for the unused code 3, and embeddings / lm_head kept in their stored type.
    private static RuntimeModel LoadPacked(string folder, RuntimeModelConfig config, PackedExportInfo info)
    {
        string path = Path.Combine(folder, PackedExportInfo.FileName);
        if (!File.Exists(path)) throw new RuntimeModelException(path, null, null, $"file not found (an exported model keeps its weights in {PackedExportInfo.FileName})");
        SafeTensorsFile st;
        try { st = SafeTensorsFile.Open(path); }
        catch (SafeTensorsFormatException e)
        {
            // the same facts in the runtime's one form: "FILE: tensor 'NAME': PROBLEM"
            string prefix = e.TensorName is null ? $"safetensors file '{e.FilePath}': " : $"safetensors file '{e.FilePath}', tensor '{e.TensorName}': ";
            string problem = e.Message.StartsWith(prefix, StringComparison.Ordinal) ? e.Message[prefix.Length..] : e.Message;
            throw new RuntimeModelException(path, e.TensorName is null ? null : "tensor", e.TensorName, problem, e);
        }
        using (st)
        {
            foreach (var (key, want) in info.Metadata())
            {
                if (!st.Metadata.TryGetValue(key, out var got))
                    throw new RuntimeModelException(path, "metadata", key, $"missing (expected \"{want}\" as {config.Source} says)");
                if (got != want)
                    throw new RuntimeModelException(path, "metadata", key, $"is \"{got}\" but {config.Source} says \"{want}\""
                        + (key == "format_version" ? $" (this build reads version {PackedExportInfo.CurrentVersion})" : ""));
            }
            var expected = ExpectedPacked(config, info);
            foreach (var n in st.Names)
                if (!expected.ContainsKey(n))
                    throw new RuntimeModelException(path, "tensor", n, $"unexpected tensor: the {PackedExportInfo.Name(info.Packing)} export of a {config.ModelType} model described by {config.Source} has no such tensor");
            foreach (var (name, (dtype, want)) in expected)
            {
                if (!st.Contains(name)) throw new RuntimeModelException(path, "tensor", name, $"missing (expected {SafeTensorsDTypes.ToName(dtype)} {Tensor.ShapeString(want)})");
                var e = st.Entry(name);
                var shape = e.TensorShape();
                if (e.DType != dtype || !shape.AsSpan().SequenceEqual(want))
                    throw new RuntimeModelException(path, "tensor", name, $"is {SafeTensorsDTypes.ToName(e.DType)} {Tensor.ShapeString(shape)} ({e.ByteLength} bytes); expected {SafeTensorsDTypes.ToName(dtype)} {Tensor.ShapeString(want)} ({(long)want.Aggregate(1L, (a, b) => a * b) * dtype.SizeOf()} bytes)");
            }

            using var _ = TensorScope.Suspend();
            float[] Finite(string name)
            {
                var v = st.Load(name, DType.Float32, Device.Cpu).ToFloatArray();
                for (int i = 0; i < v.Length; i++)
                    if (!float.IsFinite(v[i])) throw new RuntimeModelException(path, "tensor", name, $"element {i} is {v[i]}; expected finite values");
                return v;
            }
            Tensor F(string name) => Tensor.FromArray(Finite(name), st.Entry(name).TensorShape(), Device.Cpu);
            RuntimeProjection P(string name, bool bias, string? subNorm)
            {
                int rows = OutFeatures(config, name), k = ExpectedCols(config, name);
                var scales = Finite(name + ".weight_scale");
                var mode = info.PerRowScales ? TernaryScaleMode.PerRow : TernaryScaleMode.PerTensor;
                var raw = st.RawSpan(name + ".weight");
                PackedTernaryMatrix w;
                if (info.Packing == TernaryPacking.I2)
                {
                    // code 3 (bits 11) never occurs in a valid matrix: a tampered or corrupt byte
                    for (int i = 0; i < raw.Length; i++)
                        if ((raw[i] & (raw[i] >> 1) & 0x55) != 0) throw new RuntimeModelException(path, "tensor", name + ".weight", $"byte {i} = 0x{raw[i]:x2} holds the invalid 2-bit code 3; expected codes 0, 1, 2");
                    w = PackedTernaryMatrix.FromPacked(raw, rows, k, mode, scales);
                }
                else
                {
                    var q = new sbyte[(long)rows * k];
                    try { TernaryBase3.Unpack(raw, q); }
                    catch (ArgumentException x) { throw new RuntimeModelException(path, "tensor", name + ".weight", x.Message, x); }
                    w = PackedTernaryMatrix.FromCodes(q, rows, k, mode, scales);
                }
                return new RuntimeProjection(w, bias ? F(name + ".bias") : null, subNorm is null ? null : F(subNorm));
            }
            (Tensor Table, Tensor? Scales) Table(string name, TableStorage storage) => storage switch
            {
                // aligned: as the lm_head, the table is streamed by a GEMV every decode step
                TableStorage.Int8 => (st.LoadAligned(name), F(name + "_scale")),
                TableStorage.Float16 => (st.LoadAligned(name), null),
                _ => (F(name), null),
            };
            var layers = new Layer[config.NumHiddenLayers];
            for (int i = 0; i < layers.Length; i++)
            {
                string p = Prefix(i);
                string? Sub(string proj) => info.SubLn switch
                {
                    "all" => p + proj + ".sub_norm.weight",
                    "paper" when proj == "self_attn.o_proj" => p + "self_attn.attn_sub_norm.weight",
                    "paper" when proj == "mlp.down_proj" => p + "mlp.ffn_sub_norm.weight",
                    _ => null,
                };
                layers[i] = BuildLayer(config, i, n => NormWeight(config, F(n)), (proj, bias) => P(p + proj, bias, Sub(proj)));
            }
            var (embed, embedScales) = Table("model.embed_tokens.weight", info.Embeddings);
            var (head, headScales) = info.SharesTable(config.TieWordEmbeddings) ? (null, null) : Table("lm_head.weight", info.LmHead);
            return new RuntimeModel(config, embed, embedScales, layers, NormWeight(config, F("model.norm.weight")), head, headScales);
        }
    }

    /// <summary>A session (KV cache and activations, all allocated now) for sequences of up to <paramref name="maxSequenceLength"/>
    /// positions (default: max_position_embeddings, capped at 4096); prompts are processed <paramref name="prefillChunk"/> tokens
    /// at a time; the KV cache holds Float32 (default) or Float16 (<paramref name="kvCache"/>, half the memory).</summary>
    public InferenceSession CreateSession(int? maxSequenceLength = null, int prefillChunk = InferenceSession.DefaultPrefillChunk, DType kvCache = DType.Float32) =>
        new(this, maxSequenceLength ?? Math.Min(Config.MaxPositionEmbeddings, 4096), prefillChunk, kvCache);

    /// <summary>A batch of <paramref name="batchSize"/> sequences (each with its own KV cache of up to
    /// <paramref name="maxSequenceLength"/> positions, of <paramref name="kvCache"/>) that decode together: see <see cref="BatchSession"/>.</summary>
    public BatchSession CreateBatch(int batchSize, int? maxSequenceLength = null, int prefillChunk = InferenceSession.DefaultPrefillChunk, DType kvCache = DType.Float32) =>
        new(this, batchSize, maxSequenceLength ?? Math.Min(Config.MaxPositionEmbeddings, 4096), prefillChunk, kvCache);

    private static string Prefix(int layer) => $"model.layers.{layer.ToString(CultureInfo.InvariantCulture)}.";

    private static int OutFeatures(RuntimeModelConfig c, string projection) => projection[(projection.LastIndexOf('.') + 1)..] switch
    {
        "q_proj" => c.NumAttentionHeads * c.HeadDim,
        "k_proj" or "v_proj" => c.NumKeyValueHeads * c.HeadDim,
        "o_proj" or "down_proj" => c.HiddenSize,
        _ => c.IntermediateSize,
    };

    private static int ExpectedCols(RuntimeModelConfig c, string projection) => projection[(projection.LastIndexOf('.') + 1)..] switch
    {
        "o_proj" => c.NumAttentionHeads * c.HeadDim,
        "down_proj" => c.IntermediateSize,
        _ => c.HiddenSize,
    };

    /// <summary>Every tensor of an exported model with its dtype and shape, as the config and export object imply.</summary>
    private static Dictionary<string, (DType DType, int[] Shape)> ExpectedPacked(RuntimeModelConfig c, PackedExportInfo info)
    {
        var r = new Dictionary<string, (DType, int[])>(StringComparer.Ordinal);
        foreach (var (name, shape) in ExpectedShapes(c))
        {
            string proj = name.EndsWith(".weight", StringComparison.Ordinal) ? name[..^".weight".Length] : "";
            if (Array.Exists(ProjectionNames, p => proj.EndsWith(p, StringComparison.Ordinal)))
            {
                int n = shape[0], k = shape[1];
                int padded = (k + PackedTernaryMatrix.BlockSize - 1) / PackedTernaryMatrix.BlockSize * PackedTernaryMatrix.BlockSize;
                r[name] = info.Packing == TernaryPacking.I2 ? (DType.UInt8, [n, padded / 4]) : (DType.UInt8, [TernaryBase3.PackedLength(checked(n * k))]);
                r[proj + ".weight_scale"] = (DType.Float32, [info.PerRowScales ? n : 1]);
                if (info.SubLn == "all") r[proj + ".sub_norm.weight"] = (DType.Float32, [k]);
            }
            else if (name == "model.embed_tokens.weight") AddTable(r, c, name, info.Embeddings);
            else if (name == "lm_head.weight") continue; // below: also present when tied but stored in another form
            else r[name] = (DType.Float32, shape);
        }
        if (!info.SharesTable(c.TieWordEmbeddings)) AddTable(r, c, "lm_head.weight", info.LmHead);
        if (info.SubLn == "paper")
            for (int i = 0; i < c.NumHiddenLayers; i++)
            {
                r[Prefix(i) + "self_attn.attn_sub_norm.weight"] = (DType.Float32, [c.NumAttentionHeads * c.HeadDim]);
                r[Prefix(i) + "mlp.ffn_sub_norm.weight"] = (DType.Float32, [c.IntermediateSize]);
            }
        return r;
    }

    private static void AddTable(Dictionary<string, (DType, int[])> r, RuntimeModelConfig c, string name, TableStorage storage)
    {
        r[name] = (storage switch { TableStorage.Int8 => DType.Int8, TableStorage.Float16 => DType.Float16, _ => DType.Float32 }, [c.VocabSize, c.HiddenSize]);
        if (storage == TableStorage.Int8) r[name + "_scale"] = (DType.Float32, [c.VocabSize]);
    }

    /// <summary>Every weight the config implies, with its shape (lm_head only when untied).</summary>
    private static Dictionary<string, int[]> ExpectedShapes(RuntimeModelConfig c)
    {
        int e = c.HiddenSize, q = c.NumAttentionHeads * c.HeadDim, kv = c.NumKeyValueHeads * c.HeadDim, inter = c.IntermediateSize;
        var r = new Dictionary<string, int[]>(StringComparer.Ordinal) { ["model.embed_tokens.weight"] = [c.VocabSize, e], ["model.norm.weight"] = [e] };
        if (!c.TieWordEmbeddings) r["lm_head.weight"] = [c.VocabSize, e];
        for (int i = 0; i < c.NumHiddenLayers; i++)
        {
            string p = Prefix(i);
            foreach (var norm in LayerNormNames(c)) r[p + norm] = [e];
            void Proj(string name, int outF, int inF, bool bias)
            {
                r[p + name + ".weight"] = [outF, inF];
                if (bias) r[p + name + ".bias"] = [outF];
            }
            Proj("self_attn.q_proj", q, e, c.QkvBias);
            Proj("self_attn.k_proj", kv, e, c.QkvBias);
            Proj("self_attn.v_proj", kv, e, c.QkvBias);
            Proj("self_attn.o_proj", e, q, c.OutputProjectionBias);
            if (c.QkNorm) { r[p + "self_attn.q_norm.weight"] = [c.HeadDim]; r[p + "self_attn.k_norm.weight"] = [c.HeadDim]; }
            Proj("mlp.gate_proj", inter, e, false);
            Proj("mlp.up_proj", inter, e, false);
            Proj("mlp.down_proj", e, inter, false);
        }
        return r;
    }
}
