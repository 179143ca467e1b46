using BitDistill.Tensors;

namespace BitDistill.Runtime;

/// <summary>The activations of up to <see cref="Rows"/> token rows going through a <see cref="RuntimeModel"/>'s layers, and the steps
/// of a layer that do not touch a KV cache (norms, projections, MLP, residual adds): shared by <see cref="InferenceSession"/>
/// (rows = a prompt chunk of one sequence) and <see cref="BatchSession"/> (rows = one token of each sequence), which differ only in
/// how RoPE and attention map rows to cache positions. Everything is allocated here; the steps allocate nothing.</summary>
internal sealed class ForwardBuffers
{
    private readonly RuntimeModel _model;
    private readonly Tensor _codes, _codeScales, _codeSums;        // per-token INT8 activations of a ternary projection
    private readonly Dictionary<int, Tensor> _subNormed = [];      // SubLN output, one [rows, width] buffer per input width

    public ForwardBuffers(RuntimeModel model, int rows)
    {
        _model = model;
        Rows = rows;
        var c = model.Config;
        int d = c.HeadDim;
        // long-lived: these must not come from (or go back to) the pool of a caller's TensorScope
        using var _ = TensorScope.Suspend();
        H = Buffer(rows, c.HiddenSize); X = Buffer(rows, c.HiddenSize);
        Q = Buffer(rows, c.NumAttentionHeads * d); Attention = Buffer(rows, c.NumAttentionHeads * d);
        K = Buffer(rows, c.NumKeyValueHeads * d); V = Buffer(rows, c.NumKeyValueHeads * d);
        Gate = Buffer(rows, c.IntermediateSize); Up = Buffer(rows, c.IntermediateSize);
        int widest = Math.Max(c.HiddenSize, Math.Max(c.NumAttentionHeads * d, c.IntermediateSize));
        bool ternary = model.Layers.Length > 0 && model.Layers[0].Wq.Ternary is not null;
        _codes = Tensor.Zeros([ternary ? rows * widest : 0], DType.Int8, Device.Cpu);
        _codeScales = Tensor.Zeros([ternary ? rows : 0], DType.Float32, Device.Cpu);
        _codeSums = Tensor.Zeros([ternary ? rows : 0], DType.Int32, Device.Cpu);
        foreach (var layer in model.Layers)
            foreach (var p in layer.Projections())
                if (p.InputNorm is not null && !_subNormed.ContainsKey(p.InFeatures)) _subNormed[p.InFeatures] = Buffer(rows, p.InFeatures);
    }

    /// <summary>Most rows.</summary>
    public int Rows { get; }
    /// <summary>The residual stream [rows, hidden]; after <see cref="FinalNorm"/>, <see cref="X"/> holds the normed states.</summary>
    public Tensor H { get; }
    /// <summary>Normed input of a block, and the output of o_proj / down_proj [rows, hidden].</summary>
    public Tensor X { get; }
    /// <summary>Queries, keys, values [rows, heads·head_dim] (keys and values: kv heads).</summary>
    public Tensor Q { get; }
    /// <inheritdoc cref="Q"/>
    public Tensor K { get; }
    /// <inheritdoc cref="Q"/>
    public Tensor V { get; }
    /// <summary>The attention output, o_proj's input [rows, heads·head_dim].</summary>
    public Tensor Attention { get; }
    /// <summary>The MLP's gate and up projections [rows, intermediate].</summary>
    public Tensor Gate { get; }
    /// <inheritdoc cref="Gate"/>
    public Tensor Up { get; }

    /// <summary>H = the embedding rows of <paramref name="ids"/> (times the architecture's embedding scale).</summary>
    public void Embed(ReadOnlySpan<int> ids)
    {
        InferenceOps.Embedding(_model.EmbedTokens, _model.EmbedScales, ids, H);
        if (_model.Config.EmbedScale != 1f) InferenceOps.Scale(H, ids.Length, _model.Config.EmbedScale);
    }

    /// <summary>Q, K, V of rows 0..n for layer <paramref name="w"/>: x = input_layernorm(h), the projections, q_norm / k_norm
    /// (RoPE and attention are the caller's).</summary>
    public void QueryKeyValue(RuntimeModel.Layer w, int n)
    {
        float eps = (float)_model.Config.RmsNormEps;
        InferenceOps.RmsNorm(H, n, w.InputNorm, eps, X);
        if (Shareable(w.Wq, w.Wk, w.Wv))
            InferenceOps.TernaryLinearShared(X, n, w.Wq.Ternary!, w.Wq.Bias, Q, w.Wk.Ternary!, w.Wk.Bias, K, w.Wv.Ternary!, w.Wv.Bias, V, _codes, _codeScales, _codeSums);
        else if (FloatShareable(w.Wq, w.Wk, w.Wv))
            InferenceOps.LinearShared(X, n, w.Wq.Weight!, w.Wq.Bias, Q, w.Wq.Fp16Outliers, w.Wk.Weight!, w.Wk.Bias, K, w.Wk.Fp16Outliers,
                w.Wv.Weight!, w.Wv.Bias, V, w.Wv.Fp16Outliers);
        else
        {
            Project(w.Wq, X, n, Q);
            Project(w.Wk, X, n, K);
            Project(w.Wv, X, n, V);
        }
        if (w.QNorm is not null) InferenceOps.RmsNorm(Q, n, w.QNorm, eps, Q);
        if (w.KNorm is not null) InferenceOps.RmsNorm(K, n, w.KNorm, eps, K);
    }

    /// <summary>The rest of layer <paramref name="w"/> once <see cref="Attention"/> holds the attention output of rows 0..n:
    /// h += [norm](o_proj(att)); h += [norm](down_proj(act(gate_proj(x)) · up_proj(x))) with x = the MLP's input norm of h
    /// ([norm]: Gemma's sandwich norms).</summary>
    public void Finish(RuntimeModel.Layer w, int n)
    {
        float eps = (float)_model.Config.RmsNormEps;
        Project(w.Wo, Attention, n, X);
        if (w.AttentionOutputNorm is not null) InferenceOps.RmsNorm(X, n, w.AttentionOutputNorm, eps, X);
        InferenceOps.AddInPlace(H, X, n);
        InferenceOps.RmsNorm(H, n, w.MlpNorm, eps, X);
        if (Shareable(w.Gate, w.Up))
            InferenceOps.TernaryLinearShared(X, n, w.Gate.Ternary!, w.Gate.Bias, Gate, w.Up.Ternary!, w.Up.Bias, Up, null, null, null, _codes, _codeScales, _codeSums);
        else if (FloatShareable(w.Gate, w.Up))
            InferenceOps.LinearShared(X, n, w.Gate.Weight!, w.Gate.Bias, Gate, w.Gate.Fp16Outliers, w.Up.Weight!, w.Up.Bias, Up, w.Up.Fp16Outliers,
                null, null, null, null);
        else
        {
            Project(w.Gate, X, n, Gate);
            Project(w.Up, X, n, Up);
        }
        switch (_model.Config.Activation)
        {
            case RuntimeActivation.Silu: InferenceOps.SwiGlu(Gate, Up, n, Gate); break;
            default: InferenceOps.GatedGelu(Gate, Up, n, Gate, _model.Config.Activation == RuntimeActivation.GeluTanh); break;
        }
        Project(w.Down, Gate, n, X);
        if (w.MlpOutputNorm is not null) InferenceOps.RmsNorm(X, n, w.MlpOutputNorm, eps, X);
        InferenceOps.AddInPlace(H, X, n);
    }

    /// <summary>X = norm(H) on rows 0..n (the LM head's input).</summary>
    public void FinalNorm(int n) => InferenceOps.RmsNorm(H, n, _model.Norm, (float)_model.Config.RmsNormEps, X);

    /// <summary>output rows [outputRow, outputRow + rows) = the LM head on rows [row, row + rows) of X, soft-capped where the
    /// architecture says so.</summary>
    public void Logits(int row, int rows, Tensor output, int outputRow)
    {
        InferenceOps.StoredLinear(X, row, rows, _model.OutputWeight, _model.OutputScales, output, outputRow, _model.OutputFp16Outliers);
        if (_model.Config.FinalLogitSoftcap > 0) InferenceOps.Softcap(output, outputRow, rows, _model.Config.FinalLogitSoftcap);
    }

    // Projections of the same input that can run as one shared ternary product: all packed, none with its own SubLN.
    private static bool Shareable(params ReadOnlySpan<RuntimeProjection> ps)
    {
        foreach (var p in ps) if (p.Ternary is null || p.InputNorm is not null) return false;
        return true;
    }

    // Float projections of the same input (a checkpoint's FP16/BF16/FP32 weights, none with its own SubLN): InferenceOps.LinearShared
    // runs one row of 16-bit ones as one GEMV dispatch and anything else one by one.
    private static bool FloatShareable(params ReadOnlySpan<RuntimeProjection> ps)
    {
        foreach (var p in ps) if (p.Weight is null || p.InputNorm is not null) return false;
        return true;
    }

    // output = p(input) on rows 0..n: SubLN first where the model has it, then the ternary×INT8 product (exported models) or
    // the float GEMV/GEMM, as the training model's BitLinear / Linear computes it.
    private void Project(RuntimeProjection p, Tensor input, int n, Tensor output)
    {
        var x = input;
        if (p.InputNorm is not null)
        {
            x = _subNormed[p.InFeatures];
            InferenceOps.RmsNorm(input, n, p.InputNorm, _model.SubLnEps, x);
        }
        if (p.Ternary is not null) InferenceOps.TernaryLinear(x, n, p.Ternary, p.Bias, output, _codes, _codeScales, _codeSums);
        else InferenceOps.Linear(x, 0, n, p.Weight!, p.Bias, output, 0, p.Fp16Outliers);
    }

    private static Tensor Buffer(int rows, int width) => Tensor.Zeros([rows, width], DType.Float32, Device.Cpu);
}
